"""The key proxy for real: nginx with the stack's own template and start script, in front of a stub NIM.

The template (stacks/proxy/default.conf.template) is rendered the way the official nginx image does
it at container start (envsubst limited to the names that match NGINX_ENVSUBST_FILTER), with the
settings the stack puts in the container's environment; stacks/proxy/start.sh writes the keys map
from an API_KEYS JSON secret exactly as it does in the task. Debian's nginx runs it on a free port
under a temporary prefix. Where nginx or envsubst is missing the tests are skipped, except in CI
(`CI` set), where .ci/run installs nginx and a missing one is a failure.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from stacks.constructs.key_proxy import ENVSUBST_FILTER, START_SCRIPT_PATH, TEMPLATE_PATH, ProxySettings

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)
ENVSUBST = shutil.which("envsubst")
if not (NGINX and ENVSUBST):
    missing = "nginx" if not NGINX else "envsubst (gettext-base)"
    if os.environ.get("CI"):
        raise RuntimeError(f"CI must run the key proxy tests, but {missing} is not installed (see .ci/run)")
    pytest.skip(
        f"{missing} is not installed: `apt-get install nginx gettext-base` to run the key proxy tests",
        allow_module_level=True,
    )

KEY = "k" * 20 + "default0123456789abcdef"
CI_KEY = "ci_key-0123456789ABCDEFGHIJ"
NEW_KEY = "n" * 24 + "rotated9876543210"
MAX_BODY_MIB = 1
# The stub streams its first event, then waits this long before the rest.
STREAM_PAUSE_S = 1.5


# ---------------------------------------------------------------------------------------------- stub NIM


@dataclass
class StubNim:
    """What the stub upstream saw: (method, path, Authorization header or None)."""

    seen: list[tuple[str, str, str | None]] = field(default_factory=list)


def _stub_handler(state: StubNim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            state.seen.append(("GET", self.path, self.headers.get("Authorization")))
            if self.path in ("/v1/health/ready", "/v1/health/live"):
                self._json(200, {"status": "ready"})
            elif self.path == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": "nvidia/cosmos3-nano-reasoner"}]})
            else:
                self._json(404, {"detail": "stub: not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            state.seen.append(("POST", self.path, self.headers.get("Authorization")))
            if not body.get("stream"):
                self._json(200, {"choices": [{"message": {"content": "ok"}}], "size": length})
                return
            # Server-sent events, chunked, with a pause: a buffering proxy would hold the first event.
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def chunk(text: str) -> None:
                data = text.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            chunk('data: {"choices":[{"delta":{"content":"first"}}]}\n\n')
            time.sleep(STREAM_PAUSE_S)
            chunk('data: {"choices":[{"delta":{"content":"second"}}]}\n\ndata: [DONE]\n\n')
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


# ---------------------------------------------------------------------------------------------- nginx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_template(env: dict[str, str], out: Path) -> None:
    """What the image's 20-envsubst-on-templates.sh does: envsubst of the names matching the filter."""
    names = [n for n in env if re.search(ENVSUBST_FILTER, n)]
    shell_format = " ".join("${" + n + "}" for n in names)
    text = subprocess.run(
        [ENVSUBST or "envsubst", shell_format],
        input=TEMPLATE_PATH.read_text(),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    out.write_text(text)


def write_keys(keys: dict[str, str], keys_file: Path) -> subprocess.CompletedProcess[str]:
    """Run the container's start script (no command to exec) for `keys` as the API_KEYS secret."""
    env = {"PATH": os.environ["PATH"], "API_KEYS": json.dumps(keys), "PROXY_KEYS_FILE": str(keys_file)}
    return subprocess.run(["sh", str(START_SCRIPT_PATH)], env=env, capture_output=True, text=True)


# nginx runs unprivileged: as ourselves, or as nobody when the tests run as root (CI containers).
NOBODY = 65534


def as_nginx_user() -> dict[str, Any]:
    return {"user": NOBODY, "group": NOBODY} if os.geteuid() == 0 else {}


def give_to_nginx_user(prefix: Path) -> None:
    if os.geteuid() != 0:
        return
    for path in [prefix, *prefix.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)


def nginx_args(prefix: Path, conf: Path) -> list[str]:
    # -e: the error log from the first moment, before the configuration names one.
    return ["-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]


@dataclass
class Proxy:
    port: int
    prefix: Path
    keys_file: Path
    access_log: Path
    stub: StubNim
    conf: Path

    def request(
        self, method: str, path: str, key: str | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def workers(self) -> set[int]:
        """The process ids of the nginx master's live workers (children of the pid in nginx.pid)."""
        master = (self.prefix / "nginx.pid").read_text().strip()
        pids = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                # ppid is the second field after the parenthesised command name
                if stat.read_text().rpartition(")")[2].split()[1] == master:
                    pids.add(int(stat.parent.name))
        return pids

    def reload(self, timeout_s: float = 15) -> None:
        """`nginx -s reload`, returning once every worker of the old configuration has exited.

        Until then old and new workers accept from the same socket, so a request may be answered
        with either configuration's keys (the CI failure of stop 17: old key refused by a new
        worker, then the new key refused by an old one).
        """
        old = self.workers()
        give_to_nginx_user(self.prefix)
        subprocess.run(
            [NGINX or "nginx", *nginx_args(self.prefix, self.conf), "-s", "reload"],
            check=True,
            capture_output=True,
            **as_nginx_user(),
        )
        deadline = time.monotonic() + timeout_s  # a loaded CI machine may take seconds to swap workers
        while (current := self.workers()) & old or not current:
            assert time.monotonic() < deadline, f"old nginx workers {sorted(current & old)} still running"
            time.sleep(0.05)


@contextlib.contextmanager
def running_proxy(upstream_port: int, stub: StubNim) -> Iterator[Proxy]:
    """nginx with the rendered template and the keys map, on a free port under a temporary prefix."""
    # Not pytest's tmp_path: nginx's workers drop to an unprivileged user when started as root
    # and must be able to reach their temp directories.
    prefix = Path(tempfile.mkdtemp(prefix="key-proxy-"))
    prefix.chmod(0o755)
    port = free_port()
    settings = ProxySettings(
        port=port,
        upstream_port=upstream_port,
        idle_timeout_seconds=30,
        max_body_mib=MAX_BODY_MIB,
        keys_file=str(prefix / "keys.map"),
        access_log=str(prefix / "access.log"),
    )
    (prefix / "conf.d").mkdir()
    env = {**settings.environment(), "PATH": os.environ["PATH"]}
    render_template(env, prefix / "conf.d" / "default.conf")
    assert write_keys({"default": KEY, "ci": CI_KEY}, prefix / "keys.map").returncode == 0
    # The image's nginx.conf in miniature: the rendered file is included inside http {}.
    conf = prefix / "nginx.conf"
    temp_paths = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf.write_text(
        f"worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} notice;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n{temp_paths}    include {prefix / 'conf.d'}/*.conf;\n}}\n"
    )
    give_to_nginx_user(prefix)
    nginx = subprocess.Popen(
        [NGINX or "nginx", *nginx_args(prefix, conf), "-g", "daemon off;"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **as_nginx_user(),
    )
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if nginx.poll() is not None or time.monotonic() > deadline:
                    output = nginx.stdout.read().decode() if nginx.stdout else ""
                    error_log = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
                    pytest.fail(f"nginx did not start: {output}{error_log}")
                time.sleep(0.05)
        yield Proxy(port, prefix, prefix / "keys.map", prefix / "access.log", stub, conf)
    finally:
        nginx.terminate()
        nginx.wait(timeout=5)
        shutil.rmtree(prefix, ignore_errors=True)


@pytest.fixture(scope="module")
def proxy() -> Iterator[Proxy]:
    state = StubNim()
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _stub_handler(state))
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        with running_proxy(upstream.server_address[1], state) as running:
            yield running
    finally:
        upstream.shutdown()


def error_of(body: bytes) -> dict[str, Any]:
    """The OpenAI-style error object of a JSON error body."""
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return dict(error)


# ---------------------------------------------------------------------------------------------- tests


def test_rendered_config_has_no_placeholders_left_and_keeps_nginx_variables(proxy: Proxy) -> None:
    text = (proxy.prefix / "conf.d" / "default.conf").read_text()
    assert "$PROXY_" not in text
    assert "$http_authorization" in text and "$api_key_name" in text
    assert "keepalive_timeout 90s;" in text  # idle timeout 30 s + 60 s toward the ALB
    assert "keepalive_timeout 4s;" in text  # toward vLLM, whose default is 5 s


@pytest.mark.parametrize("key", [None, "wrong-key-0123456789abcdef", KEY.upper()])
def test_missing_or_wrong_key_gets_openai_style_401(proxy: Proxy, key: str | None) -> None:
    before = len(proxy.stub.seen)
    status, headers, body = proxy.request("GET", "/v1/models", key)
    assert status == 401
    assert headers["content-type"] == "application/json"
    error = error_of(body)
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
    assert len(proxy.stub.seen) == before  # never reached the NIM


def test_the_openai_sdk_reads_the_401_as_an_invalid_api_key(proxy: Proxy) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{proxy.port}/v1", api_key="wrong-key-0123456789abcdef")
    with pytest.raises(openai.AuthenticationError) as info:
        client.with_options(max_retries=0).models.list()
    assert info.value.code == "invalid_api_key" and info.value.type == "invalid_request_error"
    assert "Missing or invalid API key" in info.value.message
    models = openai.OpenAI(base_url=f"http://127.0.0.1:{proxy.port}/v1", api_key=KEY).models.list()
    assert [m.id for m in models.data] == ["nvidia/cosmos3-nano-reasoner"]


@pytest.mark.parametrize("key", [KEY, CI_KEY])
def test_any_named_key_is_forwarded_without_the_authorization_header(proxy: Proxy, key: str) -> None:
    status, _, body = proxy.request("GET", "/v1/models", key)
    assert status == 200
    assert json.loads(body)["data"][0]["id"] == "nvidia/cosmos3-nano-reasoner"
    assert proxy.stub.seen[-1] == ("GET", "/v1/models", None)


def test_health_checks_need_no_key(proxy: Proxy) -> None:
    for path in ("/v1/health/ready", "/v1/health/live"):
        status, _, body = proxy.request("GET", path)
        assert status == 200 and json.loads(body) == {"status": "ready"}


@pytest.mark.parametrize("path", ["/", "/docs", "/openapi.json", "/v1/unknown", "/v1/models/../../metrics"])
def test_paths_the_product_does_not_serve_are_a_json_404(proxy: Proxy, path: str) -> None:
    status, _, body = proxy.request("GET", path, KEY)
    assert status == 404
    assert error_of(body)["code"] == "not_found"


def test_request_body_over_the_cap_gets_a_json_413(proxy: Proxy) -> None:
    small = json.dumps({"messages": [], "pad": "x" * (MAX_BODY_MIB * 2**20 // 2)}).encode()
    status, _, body = proxy.request("POST", "/v1/chat/completions", KEY, small)
    assert status == 200 and json.loads(body)["size"] == len(small)
    big = b'{"pad": "' + b"x" * (MAX_BODY_MIB * 2**20) + b'"}'
    status, headers, body = proxy.request("POST", "/v1/chat/completions", KEY, big)
    assert status == 413
    assert headers["content-type"] == "application/json"
    error = error_of(body)
    assert error["code"] == "request_too_large" and f"{MAX_BODY_MIB} MiB" in error["message"]


def test_streamed_events_pass_through_unbuffered(proxy: Proxy) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    started = time.monotonic()
    conn.request(
        "POST",
        "/v1/chat/completions",
        body=json.dumps({"stream": True}),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    first = response.readline()
    first_at = time.monotonic() - started
    rest = response.read()
    done_at = time.monotonic() - started
    conn.close()
    assert b'"first"' in first
    # The first event arrives while the upstream is still pausing before the second.
    assert first_at < STREAM_PAUSE_S * 2 / 3, f"first event after {first_at:.2f} s: buffered"
    assert done_at >= STREAM_PAUSE_S
    assert b'"second"' in rest and rest.rstrip().endswith(b"data: [DONE]")


def test_access_log_names_the_key_and_never_holds_its_value(proxy: Proxy) -> None:
    proxy.request("GET", "/v1/models", CI_KEY)
    proxy.request("GET", "/v1/models", "wrong-key-0123456789abcdef")
    deadline = time.monotonic() + 5  # nginx logs a request as it finishes; a loaded machine lags
    while True:
        lines = [json.loads(line) for line in proxy.access_log.read_text().splitlines()]
        found_ok = any(entry["key"] == "ci" and entry["status"] == 200 for entry in lines)
        found_refused = any(entry["key"] == "" and entry["status"] == 401 for entry in lines)
        if (found_ok and found_refused) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert found_ok and found_refused, lines
    text = proxy.access_log.read_text() + (proxy.prefix / "error.log").read_text()
    for secret in (KEY, CI_KEY, "wrong-key-0123456789abcdef"):
        assert secret not in text


def test_a_model_server_that_does_not_answer_is_a_json_503() -> None:
    # Nothing listens on this port: what clients see while the NIM starts or after it crashed.
    with running_proxy(free_port(), StubNim()) as down:
        status, headers, body = down.request("GET", "/v1/models", KEY)
        assert status == 503 and headers["content-type"] == "application/json"
        assert error_of(body)["code"] == "model_not_ready"
        # The health check sees it too, so the target group keeps the task out of rotation.
        assert down.request("GET", "/v1/health/ready")[0] == 503


def test_start_script_refuses_a_malformed_secret_without_printing_it(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.map"
    for bad in (
        {"a": "short"},
        {"a": 'value-with-quote"; evil 0123456789'},
        {"bad name": "0123456789abcdefgh"},
    ):
        result = write_keys(bad, keys_file)
        assert result.returncode == 1
        assert "refusing to start" in result.stderr
        assert "evil" not in result.stdout + result.stderr
    assert not keys_file.exists()
    ok = write_keys({"default": KEY, "laptop.2": CI_KEY}, keys_file)
    assert ok.returncode == 0
    assert ok.stdout.strip() == "key-proxy: 2 API key(s): default laptop.2"
    assert KEY not in ok.stdout + ok.stderr
    assert keys_file.stat().st_mode & 0o077 == 0  # readable by nginx's master only


def test_changed_keys_take_effect_on_reload(proxy: Proxy) -> None:
    """What a new task does with a changed secret, done in place: new keys map, nginx reload."""
    assert proxy.request("GET", "/v1/models", KEY)[0] == 200
    assert write_keys({"rotated": NEW_KEY, "ci": CI_KEY}, proxy.keys_file).returncode == 0
    proxy.reload()
    assert proxy.request("GET", "/v1/models", KEY)[0] == 401
    assert proxy.request("GET", "/v1/models", NEW_KEY)[0] == 200
    assert proxy.request("GET", "/v1/models", CI_KEY)[0] == 200
