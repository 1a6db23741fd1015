"""What runs on worker machines: the Celery app, the evaluation task, objectives.

Nothing here imports ``scheduler``: a worker host installs the distribution but
only runs ``celery -A workers.app worker``. The scheduler imports
``workers.protocol`` (shared names), ``workers.app`` (to send tasks) and
``workers.errors`` / ``workers.progress`` (to read what workers store).
"""
