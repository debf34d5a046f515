"""Operating gapwatch: progress, the run summary, status, alerts and the scheduled deployment."""
