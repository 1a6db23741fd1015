"""The Celery bridge: the only scheduler code that imports celery or kombu.

`CeleryRunner` sends trials as tasks (`sending`), polls their states in one
round trip (`results`, `task_states`), finds messages a broker lost
(`broker_queue`), asks the fleet about itself (`fleet`) and runs an in-process
worker in embedded mode (`embedded`); `CeleryMetric` reads what a poll saw.
Importing this package registers both classes for storage.
"""

from scheduler.celery.metric import CeleryMetric
from scheduler.celery.runner import CeleryRunner, bind_app
from scheduler.storage.registry import DEFAULT_REGISTRY

DEFAULT_REGISTRY.register_runner(CeleryRunner)
DEFAULT_REGISTRY.register_metric(CeleryMetric)

__all__ = ["CeleryMetric", "CeleryRunner", "bind_app"]
