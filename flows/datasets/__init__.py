"""The datasets gapwatch ingests: one module each, declaring everything about it (see ``base``),
listed once in ``registry``."""
