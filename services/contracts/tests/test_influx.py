"""InfluxQL identifier quoting and line-protocol encoding (checked against the parser the API uses)."""

import pytest
from aiohttp import web
from line_protocol_parser import parse_line

from aiops_contracts.influx import (
    InfluxClient,
    InfluxUnavailable,
    InvalidIdentifier,
    encode_params,
    encode_point,
    quote_ident,
    series_key,
)
from conftest import start_app


@pytest.mark.parametrize("name", ["cpu", "used_percent", "disk.io", "node:load1", "net-if", "_x", "9gag"])
def test_quote_ident_accepts_telegraf_names(name: str) -> None:
    assert quote_ident(name) == f'"{name}"'


@pytest.mark.parametrize("name", ['cpu"', "cpu; DROP DATABASE x", "a b", "", "x\\", "é", "a" * 201, "cpu'", "-x"])
def test_quote_ident_refuses_anything_else(name: str) -> None:
    with pytest.raises(InvalidIdentifier):
        quote_ident(name)


def test_encode_point_escapes_what_line_protocol_needs() -> None:
    tags = {"host": "web 3", "path": "C:\\data,x=1", "empty": ""}
    fields = {"score": 0.5, "count": 3, "ok": True, "note": 'say "hi"\\'}
    line = encode_point("my measurement,x", tags, fields, 1_700_000_000_000_000_000)

    parsed = parse_line(line)

    assert parsed["measurement"] == "my measurement,x"
    assert parsed["tags"] == {"host": "web 3", "path": "C:\\data,x=1"}
    assert parsed["fields"] == fields and parsed["time"] == 1_700_000_000_000_000_000
    assert line.startswith(series_key("my measurement,x", tags) + " ")


def test_float_params_always_carry_a_point() -> None:
    encoded = encode_params({"tiny": 5e-324, "huge": 1e20, "half": 0.5, "count": 3, "host": 'a"b', "nan": float("nan")})
    assert encoded == '{"tiny":5.0e-324,"huge":1.0e+20,"half":0.5,"count":3,"host":"a\\"b","nan":null}'


async def test_a_page_that_is_not_json_is_influxdb_unavailable_not_a_bad_query(common_settings) -> None:
    """A 2xx answer that is neither JSON nor InfluxDB's non-finite error is something answering for InfluxDB (a proxy's
    page): the store is not there, so readers answer 503 and writers retry, instead of blaming the query."""

    async def proxy_page(request: web.Request) -> web.Response:
        return web.Response(text="<html>down for maintenance</html>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/query", proxy_page)
    runner, url = await start_app(app)
    influx = InfluxClient(common_settings.model_copy(update={"influx_url": url}))
    try:
        with pytest.raises(InfluxUnavailable, match="other than JSON"):
            await influx.query("SHOW DATABASES")
    finally:
        await influx.aclose()
        await runner.cleanup()
