"""scheduler.storage.sql."""
