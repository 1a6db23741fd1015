"""Alembic migrations of the bo-scheduler schema (run via `scheduler.storage.sql.migrate`)."""
