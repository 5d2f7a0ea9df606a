"""A fake OpenAI-compatible server on 127.0.0.1, shared by the cosmosctl and DIY assistant tests.

It is a real threaded HTTP server speaking enough of the OpenAI protocol (GET /v1/models, POST
/v1/chat/completions, streamed as server-sent events or not) that the code under test runs through the
real OpenAI SDK. It records every request, answers chat completions from a script and can be switched
to fail.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

# A chat completion's text: fixed, or a function of the request body.
Reply = str | Callable[[dict[str, Any]], str]

MODELS_PATH = "/v1/models"
CHAT_PATH = "/v1/chat/completions"


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # the JSON body; None for a GET


class FakeOpenAI:
    """The server and its state; tests set the attributes below to script it.

    - `models`: what GET /v1/models lists.
    - `replies`: a queue of chat completion texts (each a `Reply`), used first, one per request;
      then `answer` (a `Reply`) for every request. With neither, the server answers 400 (not a 5xx,
      which the SDK would retry). The text is cut to the request's `max_tokens` words, with
      finish_reason "length".
    - `api_key`: when set, any other bearer token gets a 401; when None, any key is accepted.
    - `mode`: "ok" | "401" | "500" | "400" | "slow" (waits `slow_s` seconds, then answers) |
      "flaky" (answers 503 to the first `failures` requests, then as "ok").
    - `requests`: every request received, as `Recorded`.
    - `trust_request_mm_kwargs`: like vLLM >= 0.31 started without `--trust-request-mm-kwargs` (False,
      the default), a chat request with top-level `mm_processor_kwargs` or `media_io_kwargs` gets a 400.

    `url` is the base URL with /v1 (what an OpenAI client is given); `origin` is the one without.
    Use it as a context manager, or call `start()` and `stop()`.
    """

    def __init__(self, model: str, *, api_key: str | None = None, answer: Reply | None = None) -> None:
        self.models: list[str] = [model]
        self.api_key = api_key
        self.answer = answer
        self.replies: list[Reply] = []
        self.mode = "ok"
        self.trust_request_mm_kwargs = False
        self.failures = 1
        self.slow_s = 2.0
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True  # a "slow" request does not hold up the teardown
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.origin + "/v1"

    def chat_bodies(self) -> list[Any]:
        """The JSON bodies of the chat completion requests, in order."""
        return [r.body for r in self.requests if r.path == CHAT_PATH]

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _next_reply(self, body: dict[str, Any]) -> str | None:
        with self._lock:
            reply = self.replies.pop(0) if self.replies else self.answer
        if reply is None:
            return None
        return reply(body) if callable(reply) else reply

    def _take_failure(self) -> bool:
        """In "flaky" mode: whether this request is one of those that fail."""
        with self._lock:
            fail = self.failures > 0
            self.failures -= 1
        return fail

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
                pass

            def _json(self, status: int, data: Any) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _record(self, body: Any) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    fake.requests.append(Recorded(self.command, self.path, headers, body))

            def _routed(self, path: str) -> bool:
                if self.path != path:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return False
                return True

            def _failed(self) -> bool:
                """Answers with the error the key or `mode` calls for, if any."""
                key_ok = fake.api_key is None or self.headers.get("Authorization") == f"Bearer {fake.api_key}"
                if not key_ok or fake.mode == "401":
                    self._json(
                        401, {"error": {"message": "Invalid API key", "type": "Unauthorized", "code": 401}}
                    )
                    return True
                if fake.mode == "500":
                    self._json(500, {"object": "error", "message": "CUDA error: out of memory", "code": 500})
                    return True
                if fake.mode == "400":
                    self._json(
                        400,
                        {
                            "object": "error",
                            "message": "At most 4 image(s) may be provided in one prompt.",
                            "code": 400,
                        },
                    )
                    return True
                if fake.mode == "slow":
                    time.sleep(fake.slow_s)
                if fake.mode == "flaky" and fake._take_failure():
                    self._json(503, {"message": "Service Unavailable"})
                    return True
                return False

            def do_GET(self) -> None:
                self._record(None)
                if not self._routed(MODELS_PATH) or self._failed():
                    return
                data = [{"id": m, "object": "model", "created": 0, "owned_by": "nvidia"} for m in fake.models]
                self._json(200, {"object": "list", "data": data})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                self._record(body)
                if not self._routed(CHAT_PATH) or self._failed():
                    return
                mm_kwargs = [k for k in ("mm_processor_kwargs", "media_io_kwargs") if k in body]
                if mm_kwargs and not fake.trust_request_mm_kwargs:
                    # Our wording; what matters is the 400 for any per-request multimodal kwargs.
                    message = (
                        f"{mm_kwargs[0]} is not allowed per request unless --trust-request-mm-kwargs is set"
                    )
                    self._json(400, {"object": "error", "message": message, "code": 400})
                    return
                text = fake._next_reply(body)
                if text is None:
                    self._json(400, {"error": {"message": "the test scripted no reply"}})
                    return
                words = text.split(" ")
                limit = int(body.get("max_tokens") or len(words))
                pieces = [w if i == 0 else " " + w for i, w in enumerate(words)][:limit]
                finish = "stop" if len(pieces) == len(words) else "length"
                usage = {
                    "prompt_tokens": 42,
                    "completion_tokens": len(pieces),
                    "total_tokens": 42 + len(pieces),
                }
                base = {"id": "chatcmpl-test", "created": 0, "model": body.get("model")}
                if body.get("stream"):
                    self._stream(base, pieces, finish, usage if self._wants_usage(body) else None)
                    return
                message = {"role": "assistant", "content": "".join(pieces)}
                choice = {"index": 0, "message": message, "finish_reason": finish}
                self._json(200, {**base, "object": "chat.completion", "choices": [choice], "usage": usage})

            @staticmethod
            def _wants_usage(body: dict[str, Any]) -> bool:
                return bool((body.get("stream_options") or {}).get("include_usage"))

            def _stream(
                self, base: dict[str, Any], pieces: list[str], finish: str, usage: dict[str, int] | None
            ) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                chunk = {**base, "object": "chat.completion.chunk"}

                def event(choices: list[dict[str, Any]], **extra: Any) -> None:
                    data = {**chunk, "choices": choices, **extra}
                    self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()

                event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
                for piece in pieces:
                    event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
                event([{"index": 0, "delta": {}, "finish_reason": finish}])
                if usage is not None:
                    event([], usage=usage)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        return Handler
