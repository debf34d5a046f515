"""BLS public data API v2: monthly CPI series (``client`` fetches, ``parser`` reads the JSON envelope)."""
