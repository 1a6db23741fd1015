"""scheduler.ops.cli."""
