"""Every outbound URL (webhook actions, notification receivers, AWX/Terraform/ServiceNow, pollers) is checked
before a request: http(s) only, and never a metadata host nor a name resolving to a link-local, multicast,
unspecified or reserved address (aiops_contracts.outbound) unless its host is allowed in settings. The request
itself goes through a client that vets the addresses it connects to (`outbound_client`, `VettedResolver`), so a
name resolving differently the second time (DNS rebinding) is refused too. Messages name the scheme and host
only, never the path that may hold the URL's secret."""

import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from aiops_contracts.outbound import OutboundPolicy, UnsafeUrl, VettedTransport, redacted


def policy_of(allowed_hosts: list[str]) -> OutboundPolicy:
    return OutboundPolicy(allowed_hosts=frozenset(h.lower() for h in allowed_hosts))


async def check_url(url: str, allowed_hosts: list[str]) -> str:
    """`url` when it may be called, else UnsafeUrl (a clear reason before any request is made)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl(f"{redacted(url)}: only http and https URLs with a host are allowed")
    await policy_of(allowed_hosts).addresses(parts.hostname, parts.port or 443)
    return url


def outbound_client(allowed_hosts: list[str], **options: Any) -> httpx.AsyncClient:
    """An httpx client that connects only to addresses the policy vetted (UnsafeUrl otherwise)."""
    return httpx.AsyncClient(transport=VettedTransport(policy_of(allowed_hosts)), **options)


class VettedResolver(AbstractResolver):
    """aiohttp's resolver for the pollers: the addresses it vets are the ones the connector connects to."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host=address, port=port,
                              family=socket.AF_INET6 if ":" in address else socket.AF_INET, proto=0,
                              flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
                for address in await self.policy.addresses(host, port)]

    async def close(self) -> None:
        """Nothing held."""
