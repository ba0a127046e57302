"""X-Request-ID in and out (the log side is in services/contracts/tests/test_logging.py)."""


async def test_a_safe_request_id_is_echoed(client) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc-123.x"})
    assert response.headers["x-request-id"] == "abc-123.x"


async def test_a_missing_or_unsafe_request_id_is_replaced(client) -> None:
    generated = (await client.get("/health")).headers["x-request-id"]
    assert len(generated) == 32
    for unsafe in ("a b", "x" * 200, "<script>", "id;rm -rf"):
        echoed = (await client.get("/health", headers={"X-Request-ID": unsafe})).headers["x-request-id"]
        assert echoed != unsafe and len(echoed) == 32


async def test_traceparent_is_continued(client) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await client.get("/health", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert response.status_code == 200  # the span is non-recording with tracing off, the context still flows
