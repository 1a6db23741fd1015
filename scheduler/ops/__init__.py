"""scheduler.ops."""
