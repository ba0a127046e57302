"""The "test connection" action of a polled source: each stage in turn, stopping at the first that fails, so
the answer says exactly what failed. `config` (settings and credentials readable), `dns` (the target's
host resolves), `tcp` and `tls` (HTTP kinds: the port accepts a connection, the TLS handshake and
certificate pass), then the poller's own `check()` for `auth` and `protocol` (SNMP, over UDP, has only this
last step: an agent that does not answer is reported with the likely causes)."""

import asyncio
import socket
import ssl
import time
from collections.abc import Awaitable, Iterator
from urllib.parse import urlsplit

from aiops_contracts.pollers import ConnectionCheck, ConnectionStep
from aiops_worker.producers.poller import CheckFailed, CheckStage, Poller


async def check_connection(poller: Poller) -> ConnectionCheck:
    started = time.monotonic()
    steps: list[ConnectionStep] = []
    try:
        async with asyncio.timeout(poller.source.settings.timeout_s):
            for stage, step in _stages(poller):
                steps.append(ConnectionStep(stage=stage, ok=True, message=await step))
    except CheckFailed as exc:
        steps.append(ConnectionStep(stage=exc.stage, ok=False, message=exc.message))
    except TimeoutError:
        stage = steps[-1].stage if steps else "dns"
        steps.append(ConnectionStep(stage="timeout", ok=False, message=(
            f"no answer within {poller.source.settings.timeout_s:g} s after the {stage} step")))
    return ConnectionCheck(ok=all(step.ok for step in steps), steps=steps,
                           duration_s=round(time.monotonic() - started, 3))


def _stages(poller: Poller) -> Iterator[tuple[CheckStage, Awaitable[str]]]:
    source = poller.source
    if source.settings.target_is_url:
        url = urlsplit(source.target)
        host, tls = url.hostname or "", url.scheme == "https"
        port = url.port or (443 if tls else 80)
        yield "dns", _resolve(host, port)
        yield "tcp", _connect(host, port)
        if tls:
            yield "tls", _handshake(host, port, getattr(source.settings, "verify_tls", True))
    else:
        yield "dns", _resolve(source.target, 0)
    yield "protocol", _protocol(poller)


async def _resolve(host: str, port: int) -> str:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CheckFailed("dns", f"{host} does not resolve: {exc.strerror}") from exc
    except UnicodeError as exc:  # not a valid DNS name (a label over 63 characters, an empty label)
        raise CheckFailed("dns", f"{host} is not a valid host name: {exc}") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    return f"{host} resolves to {', '.join(addresses)}"


async def _connect(host: str, port: int) -> str:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        raise CheckFailed("tcp", f"TCP connection to {host}:{port} failed: {exc.strerror or exc}") from exc
    writer.close()
    await writer.wait_closed()
    return f"TCP port {port} accepts connections"


async def _handshake(host: str, port: int, verify: bool) -> str:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
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
