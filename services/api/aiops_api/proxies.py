"""The client's address behind reverse proxies, trusted only as far as TRUSTED_PROXIES says.

When the TCP peer is a trusted proxy, the client is the rightmost address of X-Forwarded-For that is not
itself a trusted proxy (every proxy appends the peer it saw, so addresses left of the last untrusted one may
be forged). Otherwise X-Forwarded-For is ignored: anyone can send one. The result replaces the ASGI scope's
`client`, so the rate limiter, logs and audit all see the same client.
"""

from collections.abc import Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.types import ASGIApp, Receive, Scope, Send

Network = IPv4Network | IPv6Network


class TrustedProxyMiddleware:
    def __init__(self, app: ASGIApp, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if self.trusted and scope["type"] in ("http", "websocket") and client and self._is_trusted(client[0]):
            forwarded = forwarded_client(scope, self._is_trusted)
            if forwarded:
                scope = {**scope, "client": (forwarded, 0)}
        await self.app(scope, receive, send)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)


def forwarded_client(scope: Scope, is_trusted: Callable[[str], bool]) -> str | None:
    """The rightmost untrusted address of X-Forwarded-For (all its headers, in order), else the leftmost."""
    hops = [hop.strip() for name, value in scope["headers"] if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else None
