"""Checking a URL the platform will call out to (LLM provider, webhook actions, notification receivers):
http(s) with a host, and never a cloud metadata, link-local, multicast, unspecified or reserved address (the
classic SSRF targets). Loopback and private addresses stay allowed: self-hosted model servers (Ollama, vLLM,
llama.cpp) and internal webhooks live there. Messages name the scheme and host only: a URL's path often holds
its secret (Slack incoming webhooks).

Checking a name, then letting the HTTP client resolve it again, leaves a gap: a DNS server answering a safe
address to the check and 169.254.169.254 to the connection (DNS rebinding). So every outbound client connects
through `OutboundPolicy.addresses`: the one resolution that is vetted is the one connected to. httpx (and
httpx2, the openai client's) clients get a `VettedTransport`; the worker's aiohttp pollers use it as resolver."""

import asyncio
import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import httpx2

_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data"})
# Cloud metadata services outside the link-local range (169.254.169.254 is in it): AWS's over IPv6 (Nitro
# instances) and Alibaba Cloud's. Networks, not addresses: a scope id (fd00:ec2::254%eth0) still matches.
METADATA_NETWORKS = (ipaddress.ip_network("fd00:ec2::254/128"), ipaddress.ip_network("100.100.100.200/32"))


# IPv6 addresses that stand for an IPv4 one, which the kernel or a translator on the path may connect to: NAT64's
# well-known prefix (RFC 6052) and its local-use /48 (RFC 8215: an operator's prefix of 48 to 96 bits inside it), 6to4
# (RFC 3056) and Teredo (RFC 4380); IPv4-mapped, -translated and -compatible addresses are taken from the low 32 bits.
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
_NAT64_LOCAL_PREFIXES = (48, 56, 64, 96)  # the RFC 6052 prefix lengths a /48 may hold
_IPV4_IN_LOW_BITS = (ipaddress.ip_network("::ffff:0:0/96"), ipaddress.ip_network("::ffff:0:0:0/96"),
                     ipaddress.ip_network("::/96"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


def embedded_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address may reach (::ffff:169.254.169.254, 64:ff9b::a9fe:a9fe, 2002:a9fe:a9fe::,
    ::a9fe:a9fe...); none for another address. Python's own checks do not look inside them for every form (6to4,
    Teredo), nor the same way in every version (3.13 reads mapped addresses' IPv4 for is_reserved), so they are
    read here."""
    if address.version != 6:
        return []
    six = ipaddress.IPv6Address(int(address))  # without a scope id
    if six in _NAT64_WELL_KNOWN or any(six in network for network in _IPV4_IN_LOW_BITS):
        return [ipaddress.IPv4Address(int(six) & 0xFFFFFFFF)]
    if six in _NAT64_LOCAL_USE:
        packed = six.packed  # RFC 6052: the IPv4 octets follow the prefix, skipping octet 8 (bits 64-71)
        return [ipaddress.IPv4Address(bytes([packed[i] for i in range(length // 8, 16) if i != 8][:4]))
                for length in _NAT64_LOCAL_PREFIXES]
    if six in _SIX_TO_FOUR:
        return [ipaddress.IPv4Address(six.packed[2:6])]
    if six in _TEREDO and six.teredo:
        return list(six.teredo)  # the Teredo server, and the client (de-obfuscated)
    return []


def metadata_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(candidate in network for candidate in (address, *embedded_ipv4(address))
               for network in METADATA_NETWORKS if candidate.version == network.version)


def unsafe_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (metadata_address(address) or address.is_link_local or address.is_multicast or address.is_unspecified
            or address.is_reserved or any(_unsafe_itself(v4) for v4 in embedded_ipv4(address)))


def _unsafe_itself(address: ipaddress.IPv4Address) -> bool:
    return address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host spells, including the legacy IPv4 forms resolvers accept (2852039166, 0xa9fea9fe,
    169.254.43518); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def redacted(url: str) -> str:
    """scheme://host[:port] of a URL, for messages and logs."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.netloc else f"{parts.scheme or 'no scheme'}:"


def redacted_urls(text: str) -> str:
    """A text (an exception's message) with each URL in it redacted: httpx's errors quote the URL whole. Never
    raises (it runs in except blocks): a URL that cannot be split (an unclosed IPv6 bracket) is hidden whole."""
    return _URL_IN_TEXT.sub(lambda match: _redacted_or_hidden(match.group()), text)


def _redacted_or_hidden(url: str) -> str:
    try:
        return redacted(url)
    except ValueError:
        return "<url>"


def check_outbound_url(url: str) -> str:
    """The URL without a trailing slash; ValueError naming what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials (set the API key separately)")
    if parts.fragment or parts.query:
        raise ValueError("must not have a query or fragment")
    host = parts.hostname.lower().rstrip(".")
    address = literal_address(host)
    if host in METADATA_HOSTS or (address is not None and metadata_address(address)):
        raise ValueError("must not point at a cloud metadata service")
    if address is not None and unsafe_address(address):
        raise ValueError("must not point at a link-local, multicast or unspecified address")
    return url.strip().rstrip("/")


class UnsafeUrl(ValueError):
    """The URL may not be called; the message says why (scheme and host only)."""


Resolve = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class OutboundPolicy:
    """Where outbound calls may connect: any address but the unsafe ones, any at all for `allowed_hosts`
    (OUTBOUND_ALLOWED_HOSTS); names resolved by `resolve`."""

    allowed_hosts: frozenset[str] = frozenset()
    resolve: Resolve = system_resolve

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host` to connect to; UnsafeUrl when it does not resolve or when any address is
        unsafe (one bad answer among good ones refuses the name)."""
        host = host.lower()
        allowed = host in self.allowed_hosts
        if not allowed and host.rstrip(".") in METADATA_HOSTS:
            raise UnsafeUrl(f"{host}: metadata service host")
        try:
            found = await self.resolve(host, port)
        except OSError as exc:
            raise UnsafeUrl(f"{host}: host does not resolve") from exc
        for address in found if not allowed else ():
            if unsafe_address(ipaddress.ip_address(address)):
                raise UnsafeUrl(f"{host}: resolves to {address}, a link-local, metadata or reserved address")
        return found


class _VettedBackend:
    """An httpcore network backend connecting only to the addresses the policy vetted, in that same step.
    TLS still verifies the host's name: httpcore passes the URL's host as server_hostname."""

    def __init__(self, inner: Any, policy: OutboundPolicy) -> None:
        self.inner, self.policy = inner, policy

    async def connect_tcp(self, host: str, port: int, **options: Any) -> Any:
        failure: Exception | None = None
        for address in await self.policy.addresses(host, port):
            try:
                return await self.inner.connect_tcp(address, port, **options)
            except Exception as exc:  # the library's ConnectError or ConnectTimeout: try the next address
                failure = exc
        assert failure is not None  # addresses() returns at least one or raises
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


# httpcore's errors that httpx raises as its own of the same name, the most specific first.
_ERRORS = ("ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException", "ConnectError",
           "ReadError", "WriteError", "NetworkError", "ProxyError", "UnsupportedProtocol", "LocalProtocolError",
           "RemoteProtocolError", "ProtocolError")


class VettedTransport(httpx.AsyncBaseTransport, httpx2.AsyncBaseTransport):
    """An httpx transport connecting only to addresses the policy vetted, on public APIs only: httpcore's
    connection pool takes a network backend (its documented extension point; httpx's own transport passes none
    on), and requests, responses and errors go between the two as in httpx's own transport (its defaults: HTTP/1.1,
    certificates verified against the URL's host name, 100 connections, 20 kept alive for 5 s). No proxy: an
    explicit transport also keeps environment proxies out. httpx2 (the openai client's) has the same interfaces:
    `VettedTransport(policy, httpx2, httpcore2)`."""

    def __init__(self, policy: OutboundPolicy, http: ModuleType = httpx, core: ModuleType = httpcore) -> None:
        self.http, self.core = http, core
        self.pool = core.AsyncConnectionPool(
            ssl_context=http.create_ssl_context(), max_connections=100, max_keepalive_connections=20,
            keepalive_expiry=5.0, network_backend=_VettedBackend(core.AnyIOBackend(), policy))

    async def handle_async_request(self, request: Any) -> Any:
        url = request.url
        with self.errors():
            response = await self.pool.handle_async_request(self.core.Request(
                method=request.method, headers=request.headers.raw, content=request.stream, extensions=request.extensions,
                url=self.core.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)))
        return self.http.Response(status_code=response.status, headers=response.headers, extensions=response.extensions,
                                  stream=_Body(response.stream, self.errors))

    async def aclose(self) -> None:
        await self.pool.aclose()

    @contextmanager
    def errors(self) -> Iterator[None]:
        """httpcore's errors raised as httpx's (others, UnsafeUrl included, as they are)."""
        try:
            yield
        except Exception as exc:
            name = next((name for name in _ERRORS if isinstance(exc, getattr(self.core, name))), None)
            if name is None:
                raise
            raise getattr(self.http, name)(str(exc)) from exc


class _Body(httpx.AsyncByteStream, httpx2.AsyncByteStream):
    """A response body read from httpcore, its errors raised as httpx's."""

    def __init__(self, stream: Any, errors: Callable[[], AbstractContextManager[None]]) -> None:
        self.stream, self.errors = stream, errors

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with self.errors():
            async for part in self.stream:
                yield part

    async def aclose(self) -> None:
        await self.stream.aclose()
