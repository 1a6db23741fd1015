"""The live web dashboard: `bo-scheduler dashboard` (read-only, over the database).

`app.create_app` builds the Starlette app (pages and the JSON API under
`/api/`), `data` loads stored experiments and shapes what the API returns
(figures come from `scheduler.analysis.plots`, shared with the report),
`auth` guards it (token or basic auth, refusing a public bind without
either) and `server` runs it with uvicorn, in the foreground or in a thread.
"""

from scheduler.ops.dashboard.app import create_app
from scheduler.ops.dashboard.auth import AuthSettings, UnsafeBindError
from scheduler.ops.dashboard.server import DashboardThread, serve

__all__ = ["AuthSettings", "DashboardThread", "UnsafeBindError", "create_app", "serve"]
