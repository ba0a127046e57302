"""InfluxQL identifier quoting and line-protocol encoding (checked against the parser the API uses)."""

import asyncio

import httpx
import pytest
from aiohttp import web
from line_protocol_parser import parse_line

from aiops_contracts.influx import (
    DatabaseNotFound,
    InfluxClient,
    InfluxError,
    InfluxUnavailable,
    InvalidIdentifier,
    answer_chunks,
    encode_params,
    encode_point,
    quote_ident,
    series_key,
)
from aiops_contracts.influx_write import WritePool
from conftest import free_port, start_app


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


def test_a_chunked_answer_is_parsed_a_document_at_a_time() -> None:
    """InfluxDB 1.x and 2.x end each document with a newline, 3.x with CRLF; a series longer than a chunk goes on in
    the next; an error in a later chunk is raised when that chunk is reached."""
    first = (b'{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],"values":[[1,0.5],[2,1]],'
             b'"partial":true}],"partial":true}]}')
    second = b'{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],"values":[[3,2]]}]}]}'
    for end in (b"\n", b"\r\n"):
        assert [[s.values for s in series] for series in answer_chunks(first + end + second + end)] == [
            [[[1, 0.5], [2, 1]]], [[[3, 2]]]]
    chunks = answer_chunks(first + b"\n" + b'{"results":[{"statement_id":0,"error":"boom"}]}\n')
    assert len(next(chunks)) == 1
    with pytest.raises(InfluxError, match="boom"):
        next(chunks)


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


async def test_only_an_error_answer_is_read_as_text(common_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A successful answer (tens of megabytes for a replay) is handed on as bytes, never decoded to text on the event
    loop; an error's text still makes its message."""
    answer = b'{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["x"]]}]}]}'

    async def query(request: web.Request) -> web.Response:
        if (await request.post())["q"] == "BAD":
            return web.Response(status=500, text="engine exploded")
        return web.Response(body=answer, content_type="application/json")

    decoded: list[int] = []
    text = httpx.Response.text

    def spied_text(response: httpx.Response) -> str:
        decoded.append(response.status_code)
        return text.fget(response)

    monkeypatch.setattr(httpx.Response, "text", property(spied_text))
    app = web.Application()
    app.router.add_post("/query", query)
    runner, url = await start_app(app)
    influx = InfluxClient(common_settings.model_copy(update={"influx_url": url}))
    try:
        assert await influx.query_answer("SHOW DATABASES") == answer
        assert decoded == []
        with pytest.raises(InfluxUnavailable, match="answered 500: engine exploded"):
            await influx.query("BAD")
        assert decoded == [500]
    finally:
        await influx.aclose()
        await runner.cleanup()


async def serve_writes(answers: list[bytes], heads: list[bytes], close_after: bool = False) -> tuple[asyncio.Server, str]:
    """A server answering each /write with the next of `answers` as it is, the request heads kept in `heads`; with
    `close_after`, it closes each connection after one answer without saying so (as an idle timeout does)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            head = await reader.readuntil(b"\r\n\r\n")
            heads.append(head)
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            writer.write(answers.pop(0))
            await writer.drain()
            if close_after:
                break
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


NO_CONTENT = b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.8\r\n\r\n"


async def test_writes_go_on_one_kept_connection_with_the_token(common_settings) -> None:
    heads: list[bytes] = []
    server, url = await serve_writes([NO_CONTENT, NO_CONTENT], heads)
    influx = InfluxClient(common_settings.model_copy(update={"influx_url": url + "/influx/", "influx_token": "t0k"}))
    try:
        await influx.write(b"cpu v=1 1")
        await influx.write("cpu v=2 2")
    finally:
        await influx.aclose()
        server.close()
    assert len(heads) == 2  # the server served one connection only: both went on it
    assert heads[0].startswith(f"POST /influx/write?db={influx.database}&precision=ns HTTP/1.1\r\n".encode())
    assert b"\r\nAuthorization: Token t0k\r\n" in heads[0] and b"\r\nContent-Length: 9\r\n" in heads[0]


async def test_a_connection_influxdb_closed_while_idle_is_replaced(common_settings) -> None:
    heads: list[bytes] = []
    server, url = await serve_writes([NO_CONTENT, NO_CONTENT], heads, close_after=True)
    influx = InfluxClient(common_settings.model_copy(update={"influx_url": url}))
    try:
        await influx.write(b"cpu v=1 1")
        await influx.write(b"cpu v=2 2")
    finally:
        await influx.aclose()
        server.close()
    assert len(heads) == 2


@pytest.mark.parametrize(("answer", "error", "message"), [
    (b"HTTP/1.1 404 Not Found\r\nContent-Length: 38\r\n\r\n" + b'{"error":"database not found: \\"x\\""}'.ljust(38),
     DatabaseNotFound, "database not found"),
    (b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"6\r\n{\"erro\r\n1d\r\nr\":\"field type conflict\"}    \r\n0\r\n\r\n", InfluxError, "field type conflict"),
    (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\noverloaded", InfluxUnavailable, "overloaded"),
    (b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", InfluxUnavailable, "401"),
    (b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n", InfluxUnavailable, "407"),
    (b"HTTP/1.1 404 Not Found\r\nContent-Length: 18\r\n\r\n404 page not found", InfluxUnavailable, "page not found"),
    (b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\n\r\n", InfluxError, "413"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", InfluxUnavailable, "not an HTTP"),
    (b"HTTP/1.1 204 No Content\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", InfluxUnavailable, "LimitOverrun"),
    (b"HTTP/1.1 204 No Con", InfluxUnavailable, "unreachable"),
])
async def test_write_answers_map_as_every_other_request(common_settings, answer: bytes, error: type, message: str
                                                        ) -> None:
    server, url = await serve_writes([answer], [], close_after=True)
    influx = InfluxClient(common_settings.model_copy(update={"influx_url": url}))
    try:
        with pytest.raises(error, match=message):
            await influx.write(b"cpu v=1 1")
    finally:
        await influx.aclose()
        server.close()


async def test_a_write_with_no_answer_times_out_as_unavailable(common_settings) -> None:
    silent = asyncio.Event()
    server = await asyncio.start_server(lambda reader, writer: silent.wait(), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    influx = InfluxClient(common_settings.model_copy(update={"influx_url": url}), timeout_s=0.2)
    try:
        with pytest.raises(InfluxUnavailable, match="TimeoutError"):
            await influx.write(b"cpu v=1 1")
    finally:
        silent.set()
        await influx.aclose()
        server.close()


async def test_writes_to_influxdb_refusing_connections_are_unavailable(common_settings) -> None:
    influx = InfluxClient(common_settings.model_copy(update={"influx_url": f"http://127.0.0.1:{free_port()}"}))
    try:
        with pytest.raises(InfluxUnavailable, match="cannot connect"):
            await influx.write(b"cpu v=1 1")
    finally:
        await influx.aclose()


@pytest.mark.parametrize(("url", "headers", "refused"), [
    ("http://127.0.0.1:8086", {"Authorization": "Token abc\r\nX-Injected: 1"}, "header Authorization"),
    ("http://127.0.0.1:8086", {"Authorization": "Token abc\n"}, "header Authorization"),  # (ends the head early)
    ("http://127.0.0.1:8086", {"Authorization": "Token abc\x00"}, "header Authorization"),
    ("http://127.0.0.1:8086", {"Authorization": "Token abc\x7f"}, "header Authorization"),
    ("http://127.0.0.1\x01:8086", {}, "header Host"),
    ("http://127.0.0.1:8086/in flux", {}, "INFLUX_URL's path"),
    ("http://127.0.0.1:8086/influx\x00", {}, "INFLUX_URL's path"),
])
def test_a_head_a_setting_would_break_is_refused_before_any_write(url: str, headers: dict[str, str], refused: str
                                                                  ) -> None:
    """CR or LF in a header would inject headers, or end the head before Content-Length: InfluxDB answers 204 to an
    empty write (the batch acked, its metrics lost) and reads the body as a next request. A configuration error."""
    with pytest.raises(ValueError, match=f"{refused} holds a control character") as refused_with:
        WritePool(url, headers, 1.0)
    assert "abc" not in str(refused_with.value)  # (a token is a secret)


async def test_a_query_that_would_break_the_request_line_is_refused_unsent() -> None:
    heads: list[bytes] = []
    server, url = await serve_writes([NO_CONTENT], heads)
    pool = WritePool(url, {}, 1.0)
    try:
        with pytest.raises(ValueError, match="request target"):
            await pool.post("db=a HTTP/1.1\r\nX-Injected: 1\r\n\r\nPOST /write?db=b", b"cpu v=1 1")
        assert await pool.post("db=a", b"cpu v=1 1") == (204, b"")
    finally:
        await pool.aclose()
        server.close()
    assert heads == [heads[0]] and heads[0].startswith(b"POST /write?db=a HTTP/1.1\r\n")
