"""Outbound calls connect only to the addresses vetted as they are resolved: a name that rebinds to the cloud
metadata address after passing the check is refused at connect time, before any byte reaches it; the
connection goes to the vetted address and still names the host; the LLM client follows no redirect there.
Names are resolved by a resolver the test gives (answers as a rebinding DNS server would), HTTP is real."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from aiops_contracts.llm import LLMClient, LLMRequest, LLMUnavailable
from aiops_contracts.outbound import OutboundPolicy, UnsafeUrl, vetted_transport
from aiops_contracts.settings import CommonSettings

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
TO_METADATA = (b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/latest/meta-data\r\n"
               b"Content-Length: 0\r\nConnection: close\r\n\r\n")


class Verdict(BaseModel):
    cause: str


class LocalServer:
    """HTTP/1.1 on a loopback port: every request gets `answer`; the request heads are kept."""

    def __init__(self, answer: bytes) -> None:
        self.answer, self.requests, self.port = answer, list[bytes](), 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests.append((await reader.readuntil(b"\r\n\r\n")).lower())
        writer.write(self.answer)
        await writer.drain()
        writer.close()


@asynccontextmanager
async def local_server(answer: bytes) -> AsyncIterator[LocalServer]:
    local = LocalServer(answer)
    server = await asyncio.start_server(local.serve, "127.0.0.1", 0)
    local.port = server.sockets[0].getsockname()[1]
    async with server:
        yield local


def answering(*answers: list[str]) -> OutboundPolicy:
    """A policy whose resolver gives `answers` in turn: a DNS server rebinding the name between lookups."""
    pending = list(answers)

    async def resolve(host: str, port: int) -> list[str]:
        return pending.pop(0)

    return OutboundPolicy(resolve=resolve)


async def test_a_name_rebinding_to_the_metadata_address_after_the_check_is_refused_at_connect_time() -> None:
    policy = answering(["127.0.0.1"], ["169.254.169.254"])
    async with local_server(OK) as server:
        assert await policy.addresses("hooks.example.test", server.port) == ["127.0.0.1"]  # the check passes
        async with httpx.AsyncClient(transport=vetted_transport(policy)) as client:
            with pytest.raises(UnsafeUrl, match="resolves to 169.254.169.254"):
                await client.get(f"http://hooks.example.test:{server.port}/hook")
    assert server.requests == []


async def test_one_unsafe_answer_among_safe_ones_refuses_the_name() -> None:
    with pytest.raises(UnsafeUrl, match="fe80::1"):
        await answering(["127.0.0.1", "fe80::1"]).addresses("hooks.example.test", 443)
    allowed = OutboundPolicy(allowed_hosts=frozenset({"hooks.example.test"}), resolve=answering(["169.254.1.1"]).resolve)
    assert await allowed.addresses("hooks.example.test", 443) == ["169.254.1.1"]


async def test_the_connection_goes_to_the_vetted_address_and_names_the_host() -> None:
    async with local_server(OK) as server, \
            httpx.AsyncClient(transport=vetted_transport(answering(["127.0.0.1"]))) as client:
        response = await client.get(f"http://hooks.example.test:{server.port}/hook")  # not in any real DNS
    assert response.json() == {}
    assert f"host: hooks.example.test:{server.port}".encode() in server.requests[0]


async def test_the_llm_client_follows_no_redirect_to_the_metadata_address(redis: Redis) -> None:
    async with local_server(TO_METADATA) as server:
        client = LLMClient(CommonSettings(llm_base_url=f"http://127.0.0.1:{server.port}/v1", llm_model="m",
                                          llm_max_retries=0, llm_timeout_s=30), redis)
        try:
            with pytest.raises(LLMUnavailable) as refused:
                await client.structured(LLMRequest("test", [{"role": "user", "content": "why?"}]), Verdict)
        finally:
            await client.aclose()
    causes, cause = [], refused.value.__cause__
    while cause is not None:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    assert any(isinstance(c, UnsafeUrl) and "169.254.169.254" in str(c) for c in causes)
    assert len(server.requests) == 1
