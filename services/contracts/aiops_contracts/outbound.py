"""Checking a URL the platform will call out to (LLM provider, webhook actions, notification receivers):
http(s) with a host, and never a cloud metadata, link-local, multicast, unspecified or reserved address (the
classic SSRF targets). Loopback and private addresses stay allowed: self-hosted model servers (Ollama, vLLM,
llama.cpp) and internal webhooks live there. Messages name the scheme and host only: a URL's path often holds
its secret (Slack incoming webhooks)."""

import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data"})


def unsafe_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
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
    if host in METADATA_HOSTS:
        raise ValueError("must not point at a cloud metadata service")
    address = literal_address(host)
    if address is not None and unsafe_address(address):
        raise ValueError("must not point at a link-local, multicast or unspecified address")
    return url.strip().rstrip("/")
