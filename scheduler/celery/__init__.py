"""scheduler.celery."""
