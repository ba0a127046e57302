"""The connection test of an HTTP kind resolves its host once, through the pollers' outbound policy: a name
with a link-local (metadata) address fails at `dns` naming why, before any TCP probe, and `tcp` connects to
the address the policy vetted. Names are resolved by a resolver the test gives (as a DNS server would answer);
TCP is real."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from aiops_contracts.outbound import OutboundPolicy
from aiops_contracts.pollers import poller_settings
from aiops_contracts.sources import SourceKind
from aiops_worker.producers.checks import check_connection
from aiops_worker.producers.datadog import DatadogPoller
from aiops_worker.producers.poller import PolledSource

KEYS = {"api_key": "k" * 32, "application_key": "a" * 40}


def resolving_to(address: str) -> OutboundPolicy:
    async def resolve(host: str, port: int) -> list[str]:
        return [address]

    return OutboundPolicy(resolve=resolve)


def datadog(url: str) -> DatadogPoller:
    return DatadogPoller(PolledSource("id-1", "datadog-1", SourceKind.datadog, url, 60.0, {},
                                      poller_settings("datadog", {"timeout_s": 2}, KEYS)))


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[str]]]:
    """A TCP port on loopback and the peers that connected to it."""
    peers: list[str] = []

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("sockname")[0])
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], peers
    server.close()
    await server.wait_closed()


async def test_a_name_resolving_to_a_link_local_address_fails_at_dns_without_a_probe(listener) -> None:
    port, peers = listener
    poller = datadog(f"http://api.example.test:{port}")

    tested = await check_connection(poller, resolving_to("169.254.169.254"))

    assert not tested.ok and [(s.stage, s.ok) for s in tested.steps] == [("dns", False)]
    assert "169.254.169.254" in tested.steps[0].message and "link-local" in tested.steps[0].message
    assert peers == []
    await poller.aclose()


async def test_tcp_connects_to_the_vetted_address_not_a_second_resolution(listener) -> None:
    port, peers = listener
    poller = datadog(f"http://api.example.test:{port}")  # a name only the test's resolver knows

    tested = await check_connection(poller, resolving_to("127.0.0.1"))

    assert [(s.stage, s.ok) for s in tested.steps][:2] == [("dns", True), ("tcp", True)]
    assert tested.steps[0].message == "api.example.test resolves to 127.0.0.1" and peers == ["127.0.0.1"]
    await poller.aclose()
