"""SEC EDGAR XBRL ``companyfacts``: reported fundamentals of 10-Q/10-K and 20-F filers.

``client`` builds the request (through the shared :class:`flows.sources.http.HttpClient`,
with the contact User-Agent SEC requires and a rate under SEC's 10 requests/second)
and returns the raw body for the landing zone; ``parser`` turns a landed body into
``raw.fundamentals`` rows. The parser never touches the network.
"""
