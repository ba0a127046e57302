"""A small local server speaking OpenAI's chat-completions protocol (POST /v1/chat/completions, JSON and
server-sent-event streaming), on a loopback port, so the real `openai` client code runs in tests.

A test queues replies (`server.replies`): a string is the assistant's content, an int an HTTP error status,
a list of (function name, arguments) pairs the assistant's tool calls.
With none queued, `server.model(body)` answers (by default an empty JSON object). Every request body is kept
in `server.requests`."""

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Reply = str | int | list[tuple[str, dict[str, Any]]]


class FakeOpenAI:
    def __init__(self, model: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.model = model or (lambda body: "{}")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_reply(self, body: dict[str, Any]) -> Reply:
        self.requests.append(body)
        return self.replies.pop(0) if self.replies else self.model(body)


def completion(reply: str | list[tuple[str, dict[str, Any]]], body: dict[str, Any]) -> dict[str, Any]:
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    content = reply if isinstance(reply, str) else ""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if not isinstance(reply, str):
        message["tool_calls"] = [{"id": f"call_{i}", "type": "function",
                                  "function": {"name": name, "arguments": json.dumps(arguments)}}
                                 for i, (name, arguments) in enumerate(reply)]
    return {
        "id": f"chatcmpl-{time.time_ns()}", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "finish_reason": "stop" if isinstance(reply, str) else "tool_calls",
                     "message": message}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(content.split()),
                  "total_tokens": prompt_tokens + len(content.split())},
    }


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._json(404, {"error": {"message": "not found"}})
            reply = fake.next_reply(body)
            if isinstance(reply, int):
                return self._json(reply, {"error": {"message": "fake failure", "type": "server_error"}})
            if body.get("stream") and isinstance(reply, str):
                return self._stream(reply, body)
            return self._json(200, completion(reply, body))

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, content: str, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            base = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body.get("model", "fake")}
            for word in content.split(" "):
                chunk = {**base, "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")

    return Handler
