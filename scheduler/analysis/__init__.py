"""scheduler.analysis."""
