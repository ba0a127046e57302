"""Webhooks whose credential travels in a header or the query string check it before reading the body: a
request with a wrong token (or a Sentry hook outside its replay window) costs no body read, decompression or
parsing. The body is streamed, and the test counts the chunks the API pulled."""

import time

import pytest

CHUNK = b"x" * 16_384


class CountedBody:
    """A streamed request body that records how many chunks the server read."""

    def __init__(self, chunks: int = 64) -> None:
        self.chunks, self.read = chunks, 0

    async def __aiter__(self):
        for _ in range(self.chunks):
            self.read += 1
            yield CHUNK


@pytest.mark.parametrize("path", ["/webhooks/generic", "/webhooks/logs", "/webhooks/telegraf",
                                  "/webhooks/alertmanager", "/api/1/envelope/", "/api/1/store/"])
@pytest.mark.parametrize("credential", [{"X-AIOps-Token": "aiops_wrong"}, {}])
async def test_a_wrong_token_is_refused_before_the_body_is_read(client, redis, path, credential) -> None:
    body = CountedBody()
    response = await client.post(path, content=body, headers={**credential, "Content-Type": "application/json",
                                                               "Content-Encoding": "gzip"})
    assert response.status_code == 401, response.text
    assert body.read == 0


async def test_a_stale_sentry_hook_is_refused_before_the_body_is_read(client, redis) -> None:
    body = CountedBody()
    headers = {"Sentry-Hook-Resource": "issue", "Sentry-Hook-Signature": "0" * 64,
               "Sentry-Hook-Timestamp": str(int(time.time()) - 3_600)}
    response = await client.post("/webhooks/sentry", content=body, headers=headers)
    assert response.status_code == 401 and "replay" in response.json()["detail"]
    assert body.read == 0
