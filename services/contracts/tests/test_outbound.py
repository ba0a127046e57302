"""Outbound calls connect only to the addresses vetted as they are resolved: a name that rebinds to the cloud
metadata address after passing the check is refused at connect time, before any byte reaches it; the
connection goes to the vetted address and still names the host, and TLS verifies the certificate against that
name (for httpx and for httpx2, the openai client's); the LLM client follows no redirect there. Names are resolved
by a resolver the test gives (answers as a rebinding DNS server would), HTTP and TLS are real."""

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpcore
import httpcore2
import httpx
import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import BaseModel
from redis.asyncio import Redis

from aiops_contracts.llm import LLMClient, LLMRequest, LLMUnavailable
from aiops_contracts.outbound import (
    OutboundPolicy,
    UnsafeUrl,
    VettedTransport,
    check_outbound_url,
    embedded_ipv4,
    metadata_address,
    redacted_urls,
)
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
async def local_server(answer: bytes, tls: ssl.SSLContext | None = None) -> AsyncIterator[LocalServer]:
    local = LocalServer(answer)
    server = await asyncio.start_server(local.serve, "127.0.0.1", 0, ssl=tls)
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
        async with httpx.AsyncClient(transport=VettedTransport(policy)) as client:
            with pytest.raises(UnsafeUrl, match="resolves to 169.254.169.254"):
                await client.get(f"http://hooks.example.test:{server.port}/hook")
    assert server.requests == []


async def test_one_unsafe_answer_among_safe_ones_refuses_the_name() -> None:
    with pytest.raises(UnsafeUrl, match="fe80::1"):
        await answering(["127.0.0.1", "fe80::1"]).addresses("hooks.example.test", 443)
    allowed = OutboundPolicy(allowed_hosts=frozenset({"hooks.example.test"}), resolve=answering(["169.254.1.1"]).resolve)
    assert await allowed.addresses("hooks.example.test", 443) == ["169.254.1.1"]


@pytest.mark.parametrize("address", ["fd00:ec2::254", "fd00:ec2::254%eth0", "100.100.100.200"])
async def test_metadata_addresses_outside_link_local_are_refused(address: str) -> None:
    """AWS's IPv6 metadata address and Alibaba Cloud's, as a URL's host and as a name's resolved address."""
    with pytest.raises(UnsafeUrl, match=f"resolves to {address}"):
        await answering([address]).addresses("hooks.example.test", 443)
    host = f"[{address.replace('%', '%25')}]" if ":" in address else address
    with pytest.raises(ValueError, match="cloud metadata service"):
        check_outbound_url(f"http://{host}/latest/meta-data")


async def test_addresses_next_to_the_metadata_ones_stay_allowed() -> None:
    """Only the metadata addresses are refused: their neighbours are ordinary private (fd00::/8) or shared
    (100.64.0.0/10, e.g. a Tailscale node serving a model) addresses."""
    assert await answering(["fd00:ec2::253", "100.100.100.201"]).addresses("hooks.example.test", 443) == [
        "fd00:ec2::253", "100.100.100.201"]
    assert check_outbound_url("http://100.100.100.201:11434/") == "http://100.100.100.201:11434"


# 169.254.169.254 (every cloud's metadata address) and 100.100.100.200 (Alibaba Cloud's) as IPv6 addresses that
# reach them: IPv4-mapped, -translated and -compatible, NAT64's well-known prefix and its local-use /48 at each
# RFC 6052 prefix length (48, 56, 64, 96 bits), 6to4, and Teredo (client 169.254.169.254, obfuscated).
METADATA_IN_IPV6 = ["::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "::ffff:0:a9fe:a9fe", "::a9fe:a9fe",
                    "64:ff9b::a9fe:a9fe", "64:ff9b:1:a9fe:a9:fe00::", "64:ff9b:1:a9:fe:a9fe::",
                    "64:ff9b:1:0:a9:fea9:fe00::", "64:ff9b:1::a9fe:a9fe", "2002:a9fe:a9fe::", "2002:a9fe:a9fe:1::1",
                    "2001:0:4136:e378:8000:63bf:5601:5601", "::ffff:100.100.100.200", "64:ff9b::6464:64c8",
                    "2002:6464:64c8::"]


@pytest.mark.parametrize("address", METADATA_IN_IPV6)
async def test_metadata_addresses_inside_ipv6_ones_are_refused(address: str) -> None:
    assert {str(v4) for v4 in embedded_ipv4(ipaddress.ip_address(address))} & {"169.254.169.254", "100.100.100.200"}
    with pytest.raises(UnsafeUrl, match="resolves to"):
        await answering([address]).addresses("hooks.example.test", 443)
    with pytest.raises(ValueError, match="must not point at"):
        check_outbound_url(f"http://[{address}]/latest/meta-data")


@pytest.mark.parametrize("address", ["::ffff:100.100.100.200", "64:ff9b::6464:64c8", "2002:6464:64c8::"])
def test_a_metadata_address_inside_another_is_named_as_one(address: str) -> None:
    """Not refused by chance (Python 3.11 counts ::/8 as reserved; 3.13 reads a mapped address's IPv4 instead)."""
    assert metadata_address(ipaddress.ip_address(address))
    with pytest.raises(ValueError, match="cloud metadata service"):
        check_outbound_url(f"http://[{address}]/")


@pytest.mark.parametrize("host", ["2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518",
                                  "0xa9.0xfe.0xa9.0xfe"])
async def test_integer_hex_and_octal_spellings_of_the_metadata_address_are_refused(host: str) -> None:
    """As a URL's host, and through the system resolver, which reads these spellings as addresses."""
    with pytest.raises(ValueError, match="must not point at"):
        check_outbound_url(f"http://{host}/latest/meta-data")
    with pytest.raises(UnsafeUrl, match="resolves to 169.254.169.254"):
        await OutboundPolicy().addresses(host, 80)
    with pytest.raises(ValueError, match="must not point at"):
        check_outbound_url(f"http://{host}./latest/meta-data")  # a trailing dot: the same host


async def test_public_addresses_inside_ipv6_ones_stay_allowed() -> None:
    """6to4 and NAT64 addresses of a public IPv4 address (8.8.8.8) are ordinary addresses."""
    assert await answering(["2002:808:808::1"]).addresses("hooks.example.test", 443) == ["2002:808:808::1"]
    assert check_outbound_url("http://[2002:808:808::1]/hook") == "http://[2002:808:808::1]/hook"
    assert [str(a) for a in embedded_ipv4(ipaddress.ip_address("64:ff9b::808:808"))] == ["8.8.8.8"]


async def test_the_connection_goes_to_the_vetted_address_and_names_the_host() -> None:
    async with local_server(OK) as server, \
            httpx.AsyncClient(transport=VettedTransport(answering(["127.0.0.1"]))) as client:
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


def certificate_for(name: str, folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A TLS server context holding a self-signed certificate for `name`, and the file clients trust it with."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return server, folder / "cert.pem"


@pytest.mark.parametrize(("http", "core"), [(httpx, httpcore), (httpx2, httpcore2)], ids=["httpx", "httpx2"])
async def test_tls_to_the_vetted_address_verifies_the_certificate_against_the_host_name(
        http, core, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tls, trusted = certificate_for("hooks.example.test", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted))  # the clients' default context trusts it
    async with local_server(OK, tls) as server, \
            http.AsyncClient(transport=VettedTransport(answering(["127.0.0.1"], ["127.0.0.1"]), http, core)) as client:
        response = await client.get(f"https://hooks.example.test:{server.port}/hook")  # in no real DNS
        assert response.json() == {}
        with pytest.raises(http.ConnectError, match="certificate"):  # the same address under another name
            await client.get(f"https://other.example.test:{server.port}/hook")
    assert len(server.requests) == 1


@pytest.mark.parametrize(("http", "core"), [(httpx, httpcore), (httpx2, httpcore2)], ids=["httpx", "httpx2"])
async def test_connection_and_body_errors_come_as_the_clients_own(http, core) -> None:
    cut_short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{}"
    async with http.AsyncClient(transport=VettedTransport(answering(["127.0.0.1"], ["127.0.0.1"]), http, core)) as client:
        async with local_server(cut_short) as server:
            with pytest.raises(http.RemoteProtocolError):  # raised while the body is read
                await client.get(f"http://hooks.example.test:{server.port}/hook")
        with pytest.raises(http.ConnectError):  # the server is gone
            await client.get(f"http://hooks.example.test:{server.port}/hook")


def test_urls_in_a_text_are_redacted_and_one_that_cannot_be_split_is_hidden_whole() -> None:
    """redacted_urls runs inside except blocks (/ready's store checks): it never raises."""
    text = "ConnectError('http://user:pw@db:8086/query?q=1') then 'http://[fd00::1/ping' and https://[::1]:9/x"
    assert redacted_urls(text) == "ConnectError('http://db:8086') then '<url>' and https://[::1]:9"
