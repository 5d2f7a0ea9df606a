"""Test doubles for the DIY assistant: a local OpenAI-compatible server, tiny media and observations."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[dict[str, Any]], str]


class FakeOpenAI:
    """A threaded HTTP server on 127.0.0.1 speaking enough of the OpenAI API for the DIY pipeline.

    Chat completions are answered from `replies` (a queue; each a string or a function of the
    request body) and then from `responder`; every request is recorded with its path, headers (lower-case
    names) and JSON body.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.replies: list[Reply] = []
        self.responder: Callable[[dict[str, Any]], str] | None = None
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_reply(self, body: dict[str, Any]) -> str | None:
        with self._lock:
            reply = self.replies.pop(0) if self.replies else self.responder
        if reply is None:
            return None
        return reply(body) if callable(reply) else reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self, body: Any) -> None:
                with fake._lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    fake.requests.append({"path": self.path, "headers": headers, "body": body})

            def do_GET(self) -> None:
                self._record(None)
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": fake.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                self._record(body)
                if not self.path.endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                text = fake._next_reply(body)
                if text is None:  # 400, not 5xx: the SDK would retry a 5xx
                    self._send(400, {"error": {"message": "the test scripted no reply"}})
                    return
                self._send(
                    200,
                    {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", fake.model),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                    },
                )

        return Handler


def observation_json(**overrides: Any) -> str:
    """A valid observation of a leaking P-trap, with fields replaced by `overrides`."""
    obs: dict[str, Any] = {
        "fixture_type": "bathroom sink drain (P-trap)",
        "system": "plumbing",
        "components": [
            {"name": "slip nut", "state": "water beading at the joint", "location": "trap arm"},
            {"name": "P-trap", "state": "white PVC, intact", "location": "under the sink"},
        ],
        "likely_failure": {
            "description": "worn slip-joint washer at the trap arm slip nut",
            "location": "trap arm slip nut",
            "confidence": "medium",
        },
        "hazards": [],
        "uncertainties": ["cannot see the pipe size markings"],
    }
    obs.update(overrides)
    return json.dumps(obs)


def user_text(body: dict[str, Any]) -> str:
    """All text the request's messages carry."""
    texts: list[str] = []
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            texts.append(content)
        else:
            texts.extend(p.get("text", "") for p in content if p.get("type") == "text")
    return "\n".join(texts)


def part_types(body: dict[str, Any]) -> list[str]:
    return [p["type"] for m in body["messages"] if isinstance(m["content"], list) for p in m["content"]]
