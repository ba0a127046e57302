"""JSON bodies serialised once, by orjson, for the busiest read routes.

Such a route declares its model in `response_model` (the OpenAPI schema and the generated types stay the same)
and returns `json_response(...)` of plain rows: no model is built and validated per row, and FastAPI neither
validates nor encodes the body a second time. Datetimes come out as pydantic writes them (UTC as `Z`)."""

from typing import Any

import orjson
from fastapi import Response


def json_response(content: Any) -> Response:
    return Response(orjson.dumps(content, option=orjson.OPT_UTC_Z), media_type="application/json")
