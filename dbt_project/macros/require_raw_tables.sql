{#- on-run-start (dbt_project.yml): a build needs the raw tables gapwatch's loader writes. Before the first
    `gapwatch run` the warehouse has none (dbt-duckdb has just created an empty file by connecting), and every
    staging model would fail with "Table ... does not exist": stop first, with the next step. -#}
{% macro require_raw_tables() %}
  {%- if execute and flags.WHICH in ('build', 'run', 'test', 'seed', 'snapshot') -%}
    {%- set found = run_query(
        "select count(*) from information_schema.tables where table_catalog = current_database() "
        ~ "and table_schema = 'raw'"
    ) -%}
    {%- if found.columns[0].values()[0] == 0 -%}
      {{ exceptions.raise_compiler_error(
          "The warehouse " ~ target.path ~ " has no raw tables yet: run `gapwatch run` first (it loads the "
          ~ "datasets and builds the marts; `make run` from the repository root), then `dbt build` here. "
          ~ "(Connecting created the empty file; `gapwatch run` fills it.)"
      ) }}
    {%- endif -%}
  {%- endif -%}
  select 1 as raw_tables_present
{%- endmacro %}
