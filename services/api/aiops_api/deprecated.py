"""URLs renamed in 0.2, still answered for one release (removed in 0.3): each old path runs the same
handler as its new one, marked `deprecated` in the OpenAPI document. The list is the only place they live."""

from fastapi import APIRouter
from fastapi.routing import APIRoute

# old path: new path
RENAMED = {
    "/api/v1/telemetry/series": "/api/v1/metrics/series",
    "/api/v1/telemetry/fleet": "/api/v1/metrics/fleet",
    "/api/v1/analytics/anomalies": "/api/v1/anomalies",
    "/api/v1/analytics/forecast": "/api/v1/forecasts",
    "/api/v1/analytics/exhaustion": "/api/v1/forecasts/exhaustion",
}


def deprecated_aliases(routers: list[APIRouter]) -> APIRouter:
    """A router that mounts the handler of each new path of RENAMED under its old path."""
    current = {route.path: route for router in routers for route in router.routes if isinstance(route, APIRoute)}
    aliases = APIRouter(deprecated=True)
    for old, new in RENAMED.items():
        route = current[new]
        aliases.add_api_route(old, route.endpoint, methods=list(route.methods), tags=route.tags,
                              response_model=route.response_model, summary=route.summary,
                              description=f"Deprecated: use {new}. {route.description}",
                              operation_id=f"{route.operation_id}_deprecated")
    return aliases
