"""The HTTP client of the pollers of HTTP APIs (Redfish, Datadog, Splunk, ThousandEyes ...): one aiohttp
session per poller, its base URL the source's target (checked by aiops_contracts/outbound.py when the source
was saved, and again here), its auth headers set by the poller. It connects only to addresses vetted as they
are resolved (outbound/urls.VettedResolver): a name rebinding to a metadata address fails the poll at `tcp`.

Rate limits: a 429 (or a 503 with Retry-After) waits as long as the answer asks (Retry-After seconds or date,
or the vendor's reset header: seconds to wait, or an epoch time) and tries again, as long as the poll's own
timeout allows; the manager's per-poll timeout bounds it. Redirects are followed within the source's origin
only (scheme, host and port, a default port spelled or not): the auth headers, a session token or a login body
would otherwise go to another server; one elsewhere fails the poll, naming where it led (an http -> https one
too, saying the scheme changed). Failures are CheckFailed with their stage: 401 and 403 are `auth`, other
statuses and unreadable bodies `protocol`, so polls and connection tests name them.
Answers are read up to MAX_BODY_BYTES (decoded): a bigger one fails the poll at `protocol` without being read
whole; of an error answer only the start its message quotes is read.
"""

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC
from typing import Any, Generic, TypeVar

import aiohttp
import yarl

from aiops_contracts.outbound import OutboundPolicy, UnsafeUrl, check_outbound_url, literal_address, redacted
from aiops_contracts.pollers import PollerSettings
from aiops_worker.outbound.bodies import BodyTooLarge, read_within
from aiops_worker.outbound.urls import VettedResolver
from aiops_worker.producers.poller import CheckFailed, PolledSource, Poller

# Headers that say when a rate limit resets, by vendor: Retry-After (RFC 9110), Datadog's X-RateLimit-Reset
# (seconds), ThousandEyes' x-organization-rate-limit-reset (epoch seconds).
RESET_HEADERS = ("Retry-After", "X-RateLimit-Reset", "x-organization-rate-limit-reset")
MAX_WAIT_S = 60.0
REDIRECTS = (301, 302, 303, 307, 308)
MAX_BODY_BYTES = 16 * 1024 * 1024  # an answer a poll reads, decoded: a bigger one fails the poll at `protocol`
ERROR_BODY_BYTES = 1024  # of an error answer, for its message
MAX_REDIRECTS = 10  # within the source's origin; one to another origin is never followed
EPOCH_2001 = 1_000_000_000  # a reset value past this is an epoch time, not a number of seconds
ANY_SAFE_ADDRESS = OutboundPolicy()  # a source's target may be any address but the unsafe ones
S = TypeVar("S", bound=PollerSettings)
# A request's failures (an error answer, a dropped connection): of one part of a poll, the others going on.
REQUEST_ERRORS = (CheckFailed, aiohttp.ClientError)


class HttpApi:
    def __init__(self, base_url: str, *, headers: Mapping[str, str] | None = None, verify_tls: bool = True,
                 policy: OutboundPolicy = ANY_SAFE_ADDRESS) -> None:
        self.base_url = check_outbound_url(base_url)
        self.headers = dict(headers or {})
        self.verify_tls = verify_tls
        self.policy = policy
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # built on first use, inside the event loop
            # Names are resolved once, by the vetting resolver; an address literal (a redirect's) skips resolvers,
            # so every request of a redirect chain has its host vetted as it starts (a middleware runs per hop).
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                ssl=None if self.verify_tls else False, limit_per_host=4, resolver=VettedResolver(self.policy)),
                middlewares=(self._vet_literal,))
        return self._session

    async def _vet_literal(self, request: aiohttp.ClientRequest,
                           handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        host = request.url.host or ""
        if literal_address(host) is not None:
            await self.policy.addresses(host, request.url.port or 443)
        return await handler(request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def url(self, path: str) -> str:
        """`path` under the base URL: an absolute path (`/redfish/v1/Systems`), or an absolute link (pagination)
        on the same server. Paths come from the API's answers (a BMC's @odata.id, a Location), and anything else
        glued to the base URL could name another host (`@evil.example/x`, `.evil.example/x`, `:1@10.0.0.5/x`,
        `//evil.example/x`), so it is refused, and every result must keep the source's origin."""
        if path.startswith(("http://", "https://")):
            url = path
        elif path.startswith("/") and not path.startswith("//"):
            url = self.base_url + path
        else:
            raise CheckFailed("protocol", f"the API gave {path[:100]!r}, not a path on the source")
        try:
            elsewhere = not same_origin(yarl.URL(url), yarl.URL(self.base_url))
        except ValueError:
            elsewhere = True
        if elsewhere:
            raise CheckFailed("protocol", f"the API pointed at another server ({redacted(url)})")
        return url

    async def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.request(method, path, **kwargs) as response:
            return await read_json(response, f"{method} {path}")

    def request(self, method: str, path: str, **kwargs: Any) -> "_Request":
        return _Request(self, method, path, kwargs)


class HttpPoller(Poller, Generic[S]):
    """A poller of an HTTP API: its settings (of the kind's model) and one HttpApi on the source's target, with
    the poller's `headers()` (auth) and the settings' `verify_tls` where the kind has one; closed with it."""

    def __init__(self, source: PolledSource, settings_model: type[S]) -> None:
        super().__init__(source)
        assert isinstance(source.settings, settings_model)
        self.settings: S = source.settings
        self.api = HttpApi(source.target, headers=self.headers(),
                           verify_tls=getattr(self.settings, "verify_tls", True))

    def headers(self) -> dict[str, str]:
        """The headers of every request (auth, Accept): none by default."""
        return {}

    async def aclose(self) -> None:
        await self.api.aclose()


class _Request:
    """`async with api.request(...) as response`: a 2xx response, after waiting out rate limits."""

    def __init__(self, api: HttpApi, method: str, path: str, kwargs: dict[str, Any]) -> None:
        self.api, self.method, self.path, self.kwargs = api, method, path, kwargs
        self.response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        headers = {**self.api.headers, **self.kwargs.pop("headers", {})}
        method, url, kwargs, hops = self.method, yarl.URL(self.api.url(self.path)), self.kwargs, 0
        while True:
            try:
                response = await self.api.session.request(method, url, headers=headers, allow_redirects=False,
                                                          **kwargs)
            except UnsafeUrl as exc:
                raise CheckFailed("tcp", f"refused: {exc}") from exc
            except aiohttp.ClientConnectorCertificateError as exc:
                raise CheckFailed("tls", f"TLS certificate refused: {exc.certificate_error}") from exc
            except aiohttp.ClientConnectorError as exc:
                raise CheckFailed("tcp", f"cannot connect to {redacted(self.api.base_url)}: {exc.os_error}") from exc
            if response.status in REDIRECTS and "Location" in response.headers:
                response.release()
                hops += 1
                url, method, kwargs = self._redirect(response, method, kwargs, hops)
                continue
            wait = retry_after(response)
            if wait is None:
                break
            response.release()
            await asyncio.sleep(wait)
        if response.status in (401, 403):
            response.release()
            raise CheckFailed("auth", f"{self.method} {self.path}: {response.status} {response.reason} "
                                      "(check the credentials)")
        if response.status >= 400:
            # __aexit__ does not run when __aenter__ raises: the response is closed here, or its connection
            # would stay taken and, after limit_per_host error answers, every request of the poller would wait.
            try:
                text = _decode(response, await response.content.read(ERROR_BODY_BYTES))[:300]
            finally:
                response.close()
            raise CheckFailed("protocol", f"{self.method} {self.path}: {response.status} {response.reason} {text}")
        self.response = response
        return response

    async def __aexit__(self, *_: object) -> None:
        if self.response is not None:
            self.response.release()

    def _redirect(self, response: aiohttp.ClientResponse, method: str, kwargs: dict[str, Any],
                  hops: int) -> tuple[yarl.URL, str, dict[str, Any]]:
        """Where a redirect leads, followed only within the source's origin (the headers and body carry its
        credentials); the method and body as a browser would send them there (RFC 9110 15.4)."""
        try:
            target = response.url.join(yarl.URL(response.headers["Location"]))
        except ValueError as exc:
            raise CheckFailed("protocol", f"{self.method} {self.path}: an unreadable redirect") from exc
        base = yarl.URL(self.api.base_url)
        if not same_origin(target, base):
            if target.scheme != base.scheme and target.host == base.host:  # e.g. http -> https: still not followed
                raise CheckFailed("protocol", f"{self.method} {self.path}: {response.status}, redirected from "
                                              f"{base.scheme} to {target.scheme} ({redacted(str(target))}), not "
                                              "followed: the source's credentials would go to another origin (set "
                                              f"the source's URL to {redacted(str(target))})")
            raise CheckFailed("protocol", f"{self.method} {self.path}: {response.status}, redirected to another "
                                          f"server ({redacted(str(target))}), not followed: the source's "
                                          "credentials would go with it (set its URL to where the API is)")
        if hops > MAX_REDIRECTS:
            raise CheckFailed("protocol", f"{self.method} {self.path}: too many redirects (over {MAX_REDIRECTS})")
        kwargs = {key: value for key, value in kwargs.items() if key != "params"}  # the Location has the query
        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
            method = "HEAD" if method == "HEAD" else "GET"
            kwargs = {key: value for key, value in kwargs.items() if key not in ("json", "data")}
        return target, method, kwargs


async def read_json(response: aiohttp.ClientResponse, what: str) -> Any:
    """The answer's JSON (None when empty), read up to MAX_BODY_BYTES; CheckFailed naming `what` past it."""
    body = (await read_bounded(response, MAX_BODY_BYTES, what)).strip()
    try:
        return json.loads(_decode(response, body, errors="strict") if response.charset else body) if body else None
    except ValueError as exc:
        raise CheckFailed("protocol", f"{what}: the answer is not JSON") from exc


async def read_bounded(response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The answer's body, decoded (gzip ...), if at most `limit` bytes: a bigger one is refused from its
    Content-Length, or as soon as it passes the limit, unread past it (its connection is closed)."""
    try:
        return await read_within(response.content.iter_chunked(65_536), limit, response.content_length)
    except BodyTooLarge as exc:
        declared = f" (Content-Length {exc.content_length})" if exc.content_length is not None else ""
        raise CheckFailed("protocol", f"{what}: the answer is over the {limit} bytes a poll reads{declared}") from exc


def _decode(response: aiohttp.ClientResponse, body: bytes, errors: str = "replace") -> str:
    try:
        return body.decode(response.charset or "utf-8", errors)
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors)


def retry_after(response: aiohttp.ClientResponse) -> float | None:
    """How long to wait before trying again (None: do not), from a 429's or 503's reset header."""
    if response.status not in (429, 503):
        return None
    for header in RESET_HEADERS:
        value = response.headers.get(header)
        if value is None:
            continue
        wait = _seconds(value.strip())
        if wait is not None:
            return min(max(wait, 0.0), MAX_WAIT_S)
    return 1.0 if response.status == 429 else None


def _seconds(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)  # an HTTP date
        except ValueError:  # neither: the header says nothing usable
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() - time.time()
    return number - time.time() if number > EPOCH_2001 else number


def same_origin(a: yarl.URL, b: yarl.URL) -> bool:
    """Whether two absolute URLs have one origin: scheme, host and port, a default port spelled or not (yarl's
    origin() of https://a:443 is not that of https://a)."""
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


NextPage = Callable[[Any], tuple[str, dict[str, Any]] | None]


async def pages(api: HttpApi, path: str, params: dict[str, Any], next_of: NextPage) -> AsyncIterator[Any]:
    """Every page of a paginated GET: `next_of(page)` gives the next (path, params), or None at the end."""
    cursor: tuple[str, dict[str, Any]] | None = (path, params)
    while cursor is not None:
        page = await api.request_json("GET", cursor[0], params=cursor[1])
        yield page
        cursor = next_of(page)
