"""Error mapping: a model a handler builds refusing the input is a 4xx, never a 500; a store that is down is a
503 with Retry-After naming the store (push clients retry 5xx), while /health keeps answering."""

import socket
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import make_url

from aiops_contracts.events import AlertPayload


async def test_a_validation_error_inside_a_handler_is_422_not_500(app, client) -> None:
    async def normalise() -> None:
        AlertPayload(fingerprint="x" * 500, title="")

    app.add_api_route("/test-normalise", normalise, methods=["POST"])
    response = await client.post("/test-normalise")
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {("fingerprint",), ("title",)}


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port held without listening: connecting to it is refused for as long as the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize("outage", ["nothing listening", "no such database"])
async def test_postgresql_down_is_503_with_retry_after(start_service, service_headers, database_url, closed_port,
                                                       outage) -> None:
    url = make_url(database_url)
    url = url.set(port=closed_port) if outage == "nothing listening" else url.set(database="aiops_missing_db")
    api = start_service("aiops-api", DATABASE_URL=url.render_as_string(hide_password=False))
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        assert (await client.get("/health")).status_code == 200
        for response in [await client.get("/api/v1/alerts", headers=service_headers("viewer")),
                         await client.post("/webhooks/generic", json={"title": "x"}, headers={"X-AIOps-Token": "t"})]:
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"].isdigit()
            assert response.json()["store"] == "postgresql"
        ready = await client.get("/ready")
    assert (ready.status_code, ready.json()["failing"]) == (503, ["postgres"])
