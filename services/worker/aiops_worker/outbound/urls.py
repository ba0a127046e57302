"""Every outbound URL (webhook actions, notification receivers) is checked before a request: http(s) only, and
never a link-local, metadata, multicast or unspecified address unless its host is allowed in settings."""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_HOSTS = {"metadata", "metadata.google.internal", "metadata.goog", "instance-data"}


class UnsafeUrl(ValueError):
    """The URL may not be called; the message says why."""


async def check_url(url: str, allowed_hosts: list[str]) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl(f"{url!r}: only http and https URLs with a host are allowed")
    host = parts.hostname.lower()
    if host in allowed_hosts:
        return url
    if host in METADATA_HOSTS:
        raise UnsafeUrl(f"{url!r}: metadata service host")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeUrl(f"{url!r}: host does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
            raise UnsafeUrl(f"{url!r}: resolves to {address}, a link-local, metadata or reserved address")
    return url
