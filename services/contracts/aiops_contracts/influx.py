"""InfluxDB through its v1-compatible HTTP API (`/write` line protocol, `/query` InfluxQL), shared by
the API and the worker, so one code path serves InfluxDB 1.x, 2.x and 3.x.

Queries never paste input into InfluxQL: values travel as bound parameters (`$name` + `params`),
and identifiers (measurement, field and tag names) must pass `quote_ident`, which accepts only a
strict character set and double-quotes the result.
"""

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from aiops_contracts.influx_write import HttpFailure, WritePool, sent_by_hand
from aiops_contracts.settings import CommonSettings

# Measurement, field and tag names we accept in queries: what Telegraf and our own writers produce.
IDENTIFIER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,199}$")
# InfluxDB keeps time as 64-bit nanoseconds since 1970: it can hold about 1677-09-21 to 2262-04-11 only.
EARLIEST_TIME = datetime(1678, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2262, 1, 1, tzinfo=UTC)
# Per-point anomaly scores: written by the worker's anomaly detector, read by the analytics API.
ANOMALIES_MEASUREMENT = "aiops_anomalies"
# The retention policy ensure_database() creates and makes the database's default.
RETENTION_POLICY = "aiops"
# The 4xx answers that refuse the request itself, for good: a bad line or query, a field type conflict, a partial
# write (400), a body over max-body-size (413), points refused (InfluxDB 2.x: 422). Any other (bad credentials, a
# rate limit, a proxy's refusal, a path with no InfluxDB behind it) means "not now": retried once fixed.
_REFUSED_STATUSES = (400, 413, 422)


class InfluxError(Exception):
    """InfluxDB refused the request (bad query, bad line, type conflict): retrying will not help."""


class InfluxUnavailable(ConnectionError):
    """InfluxDB is unreachable or answered 5xx. A ConnectionError, so stream consumers wait and retry."""


class DatabaseNotFound(InfluxError):
    """The database does not exist (yet): writers create it and retry, readers see no data."""


class PointsBeyondRetention(InfluxError):
    """A partial write: InfluxDB kept the batch's other points and dropped those older than its retention."""


class NonFiniteResult(InfluxError):
    """A query computed a value beyond the float range (the mean or sum of values near 1.8e308, two 1e308 points
    in one window): InfluxDB 1.x cannot write +Inf in JSON and answers 200 with only Go's error text ("json:
    unsupported value: +Inf"), so the whole statement's answer is lost, every series of it, not just the one."""


class InvalidIdentifier(ValueError):
    pass


def quote_ident(name: str) -> str:
    """A measurement/field/tag name as a quoted InfluxQL identifier; refuses anything outside IDENTIFIER."""
    if not IDENTIFIER.fullmatch(name):
        raise InvalidIdentifier(f"invalid identifier {name!r}: use letters, digits, _ . : -")
    return f'"{name}"'


@dataclass
class InfluxSeries:
    name: str
    columns: list[str]
    values: list[list[Any]]
    tags: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.values]


def _escape(text: str, specials: str) -> str:
    # Names and tag values escape only their specials: a backslash before anything else is literal.
    for char in specials:
        text = text.replace(char, "\\" + char)
    return text


def series_key(measurement: str, tags: Mapping[str, str]) -> str:
    """`measurement,tag=value,...` escaped as in line protocol, tags sorted (InfluxDB's series key)."""
    head = _escape(measurement, ", ")
    for key in sorted(tags):
        if tags[key] != "":
            head += f",{_escape(key, ',= ')}={_escape(tags[key], ',= ')}"
    return head


def encode_point(measurement: str, tags: Mapping[str, str], fields: Mapping[str, Any], time_ns: int) -> str:
    """One line of line protocol. Floats stay floats (`1.0`), ints get `i`, strings are quoted.
    Callers drop non-finite floats first: line protocol has no NaN or infinity."""
    head = series_key(measurement, tags)
    parts = []
    for key, value in fields.items():
        if isinstance(value, bool):
            encoded = "true" if value else "false"
        elif isinstance(value, int):
            encoded = f"{value}i"
        elif isinstance(value, float):
            encoded = repr(value)
        else:
            encoded = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{_escape(key, ',= ')}={encoded}")
    return f"{head} {','.join(parts)} {time_ns}"


class InfluxClient:
    def __init__(self, settings: CommonSettings, timeout_s: float = 30.0) -> None:
        headers = {"Authorization": f"Token {settings.influx_token}"} if settings.influx_token else {}
        self.database = settings.influx_database
        self._http = httpx.AsyncClient(base_url=settings.influx_url, headers=headers, timeout=timeout_s)
        # /write, the metrics writer's request, goes by hand where httpx would send it plainly (see influx_write.py)
        self._writes = WritePool(settings.influx_url, headers, timeout_s) if sent_by_hand(settings.influx_url) else None

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._writes:
            await self._writes.aclose()

    async def create_database(self) -> None:
        await self._post("/query", data={"q": f"CREATE DATABASE {quote_ident(self.database)}"})

    async def ensure_database(self, retention_days: int) -> None:
        """Create the database and make a retention policy of `retention_days` its default (idempotent).
        InfluxDB 2.x/3.x map databases to buckets and refuse these statements: the bucket must exist there."""
        db, rp = quote_ident(self.database), quote_ident(RETENTION_POLICY)
        await self._post("/query", data={"q": f"CREATE DATABASE {db}"})
        policy = f"ON {db} DURATION {int(retention_days)}d REPLICATION 1 DEFAULT"
        body = (await self._post("/query", data={"q": f"CREATE RETENTION POLICY {rp} {policy}"})).json()
        if "already exists" in body["results"][0].get("error", ""):  # another duration was set before
            await self._post("/query", data={"q": f"ALTER RETENTION POLICY {rp} {policy}"})

    async def write(self, lines: str | bytes, precision: str = "ns") -> None:
        """Write line protocol (text, or its UTF-8 bytes); InfluxDB overwrites a point with the same series and time
        (idempotent)."""
        if not lines:
            return
        body = lines.encode() if isinstance(lines, str) else lines
        if self._writes is None:
            await self._post("/write", params={"db": self.database, "precision": precision}, content=body)
            return
        try:
            status, answer = await self._writes.post(urlencode({"db": self.database, "precision": precision}), body)
        except HttpFailure as exc:
            raise InfluxUnavailable(f"InfluxDB unreachable: {exc}") from exc
        _check(status, answer.decode(errors="replace"))

    async def query(self, q: str, params: Mapping[str, Any] | None = None, epoch: str = "s") -> list[InfluxSeries]:
        """Run one InfluxQL statement with bound `$name` parameters; returns its series."""
        return parse_answer(await self.query_answer(q, params, epoch))

    async def query_answer(self, q: str, params: Mapping[str, Any] | None = None, epoch: str = "s",
                           chunk_rows: int | None = None) -> bytes:
        """`query`'s answer as InfluxDB sent it, for a caller that reads a large one (tens of megabytes) with
        `parse_answer` off the event loop. With `chunk_rows`, InfluxDB sends it as documents of at most that many
        rows, one a line (`answer_chunks` parses them): orjson keeps the GIL while it parses, so one document of
        200,000 rows held the event loop 0.35-0.7 s even when parsed on a thread."""
        data = {"q": q, "db": self.database, "epoch": epoch}
        if params:
            data["params"] = encode_params(params)
        if chunk_rows:
            data |= {"chunked": "true", "chunk_size": str(chunk_rows)}
        return (await self._post("/query", data=data)).content

    async def _post(self, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.post(path, **kwargs)
        except httpx.TransportError as exc:
            raise InfluxUnavailable(f"InfluxDB unreachable: {exc!r}") from exc
        if response.status_code >= 400:  # only an error's answer is read as text: a replay's is tens of megabytes
            _check(response.status_code, response.text)
        return response


def parse_answer(answer: bytes) -> list[InfluxSeries]:
    """The series of a /query answer (`InfluxClient.query_answer`), or the error it reports."""
    try:
        body = orjson.loads(answer)
    except ValueError:  # not JSON: InfluxDB could not encode its answer (see NonFiniteResult)
        raise _unreadable(answer.decode(errors="replace")) from None
    result = body["results"][0]
    if "error" in result:
        raise _error(result["error"])
    return [InfluxSeries(s.get("name", ""), s["columns"], s["values"], s.get("tags") or {})
            for s in result.get("series", [])]


def answer_chunks(answer: bytes) -> Iterator[list[InfluxSeries]]:
    """The series of a chunked answer (`query_answer(chunk_rows=...)`), a document at a time: each ends its line
    (JSON text holds no newline of its own), and a series longer than a chunk goes on in the next."""
    for document in answer.splitlines():
        if document.strip():
            yield parse_answer(document)


def _check(status: int, text: str) -> None:
    """Raises what an answer's status means: an InfluxError for a refusal of the request (DatabaseNotFound for 404's
    "database not found"), InfluxUnavailable for any other 4xx and 5xx."""
    if status < 400:
        return
    error = _error(f"InfluxDB answered {status}: {text[:300]}")
    if status in _REFUSED_STATUSES or isinstance(error, DatabaseNotFound):
        raise error
    raise InfluxUnavailable(str(error))


def encode_params(params: Mapping[str, Any]) -> str:
    """`params` as InfluxDB reads them: it takes a JSON number without a "." for an integer, so a float that
    JSON writes in exponent form (5e-324, 1e+20) would be refused with a 400; floats always carry a ".".
    """
    items = (orjson.dumps(name).decode() + ":" + _param(value) for name, value in params.items())
    return "{" + ",".join(items) + "}"


def _param(value: Any) -> str:
    if not isinstance(value, float) or not math.isfinite(value):
        return orjson.dumps(value).decode()
    mantissa, exponent_mark, exponent = repr(value).partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + exponent_mark + exponent


def _unreadable(text: str) -> InfluxError | InfluxUnavailable:
    """What a 2xx answer that is not JSON means: a value InfluxDB computed but could not encode (the query's fault),
    else something between us and InfluxDB answering for it (a proxy's page: the store's fault, retried later)."""
    text = text.strip()[:300]
    if "unsupported value" in text:  # Go's json.UnsupportedValueError: +Inf, -Inf or NaN
        return NonFiniteResult(f"InfluxDB could not answer: a value it computed is not finite ({text})")
    return InfluxUnavailable(f"InfluxDB answered something other than JSON: {text!r}")


def _error(message: str) -> InfluxError:
    if "database not found" in message:
        return DatabaseNotFound(message)
    if "beyond retention policy" in message:
        return PointsBeyondRetention(message)
    return InfluxError(message)
