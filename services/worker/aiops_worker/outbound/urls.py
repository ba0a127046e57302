"""Every outbound URL (webhook actions, notification receivers, AWX/Terraform/ServiceNow) is checked before a
request: http(s) only, and never a metadata host nor a name resolving to a link-local, multicast, unspecified or
reserved address (aiops_contracts.outbound) unless its host is allowed in settings. Messages name the scheme and
host only, never the path that may hold the URL's secret."""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiops_contracts.outbound import METADATA_HOSTS, redacted, unsafe_address


class UnsafeUrl(ValueError):
    """The URL may not be called; the message says why."""


async def check_url(url: str, allowed_hosts: list[str]) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl(f"{redacted(url)}: only http and https URLs with a host are allowed")
    host = parts.hostname.lower()
    if host in allowed_hosts:
        return url
    if host.rstrip(".") in METADATA_HOSTS:
        raise UnsafeUrl(f"{redacted(url)}: metadata service host")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeUrl(f"{redacted(url)}: host does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if unsafe_address(address):
            raise UnsafeUrl(f"{redacted(url)}: resolves to {address}, a link-local, metadata or reserved address")
    return url
