"""scheduler.ops.config."""
