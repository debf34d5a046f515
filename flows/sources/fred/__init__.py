"""FRED's keyless graph CSV download: the CPI alternative when the BLS API is unavailable."""
