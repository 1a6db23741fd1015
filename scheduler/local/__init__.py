"""scheduler.local."""
