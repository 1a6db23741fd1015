"""Helpers shared by test modules: real services (Redis, PostgreSQL) and real Celery workers."""
