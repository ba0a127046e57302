"""The "test connection" action of a polled source: each stage in turn, stopping at the first that fails, so
the answer says exactly what failed. `config` (settings and credentials readable), `dns` (the target's
host resolves), `tcp` and `tls` (HTTP kinds: the port accepts a connection, the TLS handshake and
certificate pass), then the poller's own `check()` for `auth` and `protocol` (SNMP, over UDP, has only this
last step: an agent that does not answer is reported with the likely causes).

The target's host is resolved through the pollers' outbound policy (aiops_contracts/outbound.py): a name with
a link-local, metadata or reserved address fails at `dns` saying so, and an HTTP kind's `tcp` and `tls` connect
to the vetted addresses only (never a second resolution a rebinding DNS server could answer differently)."""

import asyncio
import socket
import ssl
import time
from collections.abc import Awaitable, Iterator
from typing import Any
from urllib.parse import urlsplit

from aiops_contracts.outbound import OutboundPolicy, UnsafeUrl
from aiops_contracts.pollers import ConnectionCheck, ConnectionStep
from aiops_worker.producers.http import ANY_SAFE_ADDRESS
from aiops_worker.producers.poller import CheckFailed, CheckStage, Poller


async def check_connection(poller: Poller, policy: OutboundPolicy = ANY_SAFE_ADDRESS) -> ConnectionCheck:
    started = time.monotonic()
    steps: list[ConnectionStep] = []
    try:
        async with asyncio.timeout(poller.source.settings.timeout_s):
            for stage, step in _stages(poller, policy):
                steps.append(ConnectionStep(stage=stage, ok=True, message=await step))
    except CheckFailed as exc:
        steps.append(ConnectionStep(stage=exc.stage, ok=False, message=exc.message))
    except TimeoutError:
        stage = steps[-1].stage if steps else "dns"
        steps.append(ConnectionStep(stage="timeout", ok=False, message=(
            f"no answer within {poller.source.settings.timeout_s:g} s after the {stage} step")))
    return ConnectionCheck(ok=all(step.ok for step in steps), steps=steps,
                           duration_s=round(time.monotonic() - started, 3))


def _stages(poller: Poller, policy: OutboundPolicy) -> Iterator[tuple[CheckStage, Awaitable[str]]]:
    source = poller.source
    if source.settings.target_is_url:
        url = urlsplit(source.target)
        host, tls = url.hostname or "", url.scheme == "https"
        port = url.port or (443 if tls else 80)
        vetted: list[str] = []  # filled by the dns step, connected to by the next ones
        yield "dns", _vet(policy, host, port, vetted)
        yield "tcp", _connect(vetted, port)
        if tls:
            yield "tls", _handshake(host, vetted, port, getattr(source.settings, "verify_tls", True))
    else:
        yield "dns", _vet(policy, source.target, 0, [])
    yield "protocol", _protocol(poller)


async def _vet(policy: OutboundPolicy, host: str, port: int, vetted: list[str]) -> str:
    """`host`'s addresses, resolved and vetted in one step, into `vetted`."""
    try:
        vetted += await policy.addresses(host, port)
    except UnsafeUrl as exc:
        if isinstance(exc.__cause__, socket.gaierror):
            raise CheckFailed("dns", f"{host} does not resolve: {exc.__cause__.strerror}") from exc
        raise CheckFailed("dns", f"refused by the outbound policy: {exc}") from exc
    except UnicodeError as exc:  # not a valid DNS name (a label over 63 characters, an empty label)
        raise CheckFailed("dns", f"{host} is not a valid host name: {exc}") from exc
    return f"{host} resolves to {', '.join(sorted(set(vetted)))}"


async def _open(addresses: list[str], port: int, **tls: Any) -> asyncio.StreamWriter:
    """A connection to the first of `addresses` that accepts one; the last failure otherwise."""
    failure: OSError | None = None
    for address in addresses:
        try:
            _, writer = await asyncio.open_connection(address, port, **tls)
            return writer
        except OSError as exc:  # ssl.SSLError included: try the next address, as the pollers' client does
            failure = exc
    assert failure is not None  # the dns step vetted at least one address
    raise failure


async def _connect(addresses: list[str], port: int) -> str:
    try:
        writer = await _open(addresses, port)
    except OSError as exc:
        raise CheckFailed("tcp", f"TCP connection to {', '.join(addresses)} port {port} failed: "
                                 f"{exc.strerror or exc}") from exc
    writer.close()
    await writer.wait_closed()
    return f"TCP port {port} accepts connections"


async def _handshake(host: str, addresses: list[str], port: int, verify: bool) -> str:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        writer = await _open(addresses, port, ssl=context, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        raise CheckFailed("tls", f"TLS certificate refused: {exc.verify_message}") from exc
    except (ssl.SSLError, OSError) as exc:
        raise CheckFailed("tls", f"TLS handshake failed: {exc}") from exc
    version = writer.get_extra_info("ssl_object").version()
    writer.close()
    await writer.wait_closed()
    return f"TLS handshake done ({version}{'' if verify else ', certificate not verified'})"


async def _protocol(poller: Poller) -> str:
    try:
        await poller.check()
    except CheckFailed:
        raise
    except Exception as exc:  # any other failure of the protocol step is reported as such, with its text
        raise CheckFailed("protocol", f"{type(exc).__name__}: {exc}") from exc
    return f"{poller.source.kind.value} answered and authenticated"
