"""Federal Register API v1: published rules of one agency, merged with the curated event calendar."""
