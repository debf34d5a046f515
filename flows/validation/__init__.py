"""Validating batches before they load: the GX suites (``gx``) and the quarantine of rows they hold back."""
