"""Checking a URL the platform will call out to (an LLM provider today): http(s) with a host, no credentials
in the URL, and never a cloud metadata or link-local address (the classic SSRF target). Loopback and private
addresses stay allowed: self-hosted model servers (Ollama, vLLM, llama.cpp) live there."""

import ipaddress
from urllib.parse import urlsplit

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})


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
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return url.strip().rstrip("/")
    if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
        raise ValueError("must not point at a link-local, multicast or unspecified address")
    return url.strip().rstrip("/")
