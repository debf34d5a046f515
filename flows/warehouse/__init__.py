"""The warehouse: its schema (``schema``), connection and upserts (``database``), audit records (``audit``),
the run lock (``lock``), the dbt build (``dbt``) and the published copy (``publish``)."""
