"""The dashboard's Starlette app: two pages and the JSON API they (and scripts) use.

Pages are Jinja2 templates filled in by `static/dashboard.js`, which polls
the API every few seconds and redraws with plotly.js, served from the
installed plotly package (no CDN: the dashboard works offline). There is
no front-end build step. Every route only reads.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from scheduler.core.masking import mask_url
from scheduler.ops.dashboard import data
from scheduler.ops.dashboard.auth import AuthMiddleware, AuthSettings
from scheduler.ops.dashboard.fleet import AppFactory, FleetView, app_from_environment
from scheduler.storage.errors import ExperimentNotFoundError

HERE = Path(__file__).parent
#: Seconds between the experiment page's refreshes.
REFRESH_SECONDS = 3.0


def _default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class JSON(JSONResponse):
    """JSON by orjson (a figure of 10,000 points in ms, not 0.1 s): numpy arrays and
    scalars natively, NaN as null, anything else through `_default`."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(
            content,
            default=_default,
            option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
        )


@cache
def _plotly_js() -> bytes:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode()


def create_app(
    url: str,
    auth: AuthSettings | None = None,
    ttl: float = 1.0,
    fleet_app: AppFactory = app_from_environment,
) -> Starlette:
    """The dashboard over database `url`; `auth` (default: none) guards every route;
    `fleet_app` gives the Celery app of the fleet page (default: the environment's)."""
    experiments = data.ExperimentCache(url, ttl)
    fleet = FleetView(fleet_app)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    database = mask_url(url)

    def not_found(name: str) -> JSON:
        return JSON({"error": f"no experiment named {name!r}"}, status_code=404)

    async def index(request: Request) -> Response:
        return templates.TemplateResponse(request, "index.html", {"database": database})

    async def experiment_page(request: Request) -> Response:
        name = request.path_params["name"]
        context = {"name": name, "database": database, "refresh": REFRESH_SECONDS}
        return templates.TemplateResponse(request, "experiment.html", context)

    def api_list(request: Request) -> Response:
        return JSON(data.experiments(experiments))

    def api_experiment(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            return JSON(data.summary(experiments, name))
        except ExperimentNotFoundError:
            return not_found(name)

    def api_trials(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            return JSON(data.trials(experiments, name, request.query_params.get("status")))
        except ExperimentNotFoundError:
            return not_found(name)

    def api_plots(request: Request) -> Response:
        name, query = request.path_params["name"], request.query_params
        try:
            figures = data.figures(
                experiments, name, query.get("log") in ("1", "true"), query.get("x"), query.get("y")
            )
        except ExperimentNotFoundError:
            return not_found(name)
        only = request.path_params.get("plot")
        if only is not None:
            if only not in figures:
                return JSON({"error": f"no plot {only!r}; plots: {sorted(figures)}"}, 404)
            return JSON(figures[only])
        return JSON(figures)

    async def fleet_page(request: Request) -> Response:
        return templates.TemplateResponse(request, "fleet.html", {"database": database})

    def api_fleet(request: Request) -> Response:
        return JSON(fleet.snapshot())

    async def plotly_js(request: Request) -> Response:
        return Response(
            _plotly_js(),
            media_type="application/javascript",
            headers={"cache-control": "max-age=86400"},
        )

    routes = [
        Route("/", index),
        Route("/experiments/{name}", experiment_page),
        Route("/fleet", fleet_page),
        Route("/api/fleet", api_fleet),
        Route("/api/experiments", api_list),
        Route("/api/experiments/{name}", api_experiment),
        Route("/api/experiments/{name}/trials", api_trials),
        Route("/api/experiments/{name}/plots", api_plots),
        Route("/api/experiments/{name}/plots/{plot}", api_plots),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return Starlette(
        routes=routes, middleware=[Middleware(AuthMiddleware, auth=auth or AuthSettings())]
    )
