"""Ingesting a dataset: extract, land, validate, load (``steps``); live extraction (``live``) and where its
fetches run (``runners``)."""
