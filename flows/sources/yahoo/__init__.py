"""Yahoo Finance: daily bars and FX (v8 chart API) and quarterly fundamentals (fundamentals-timeseries API).

``client`` builds the requests (through the shared :class:`flows.sources.http.HttpClient`)
and returns raw bodies for the landing zone; ``parser`` turns landed bodies into
frames with the raw-table columns. The parser never touches the network.
"""
