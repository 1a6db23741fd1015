"""scheduler.generation.botorch."""
