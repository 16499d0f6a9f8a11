"""The OpenAI-compatible server under hostile requests, over real HTTP on 127.0.0.1 (issue 23, severe 2 and 3):
bounded bodies and conversations, a prompt cut linear in its input and built off the event loop, abandoned work
cancelled, no cross-site or rebinding access on loopback, no keyless bind beyond it, a quick SIGTERM."""
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from studio.core.errors import StudioError
from studio.serve.models_served import ServedModels
from studio.serve.openai_api import check_bind, create_app
from studio.serve.openai_schema import MAX_BODY_BYTES, MAX_MESSAGES
from tests.conftest import finished_run, serving


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    run = finished_run(root, "chatml")
    models = ServedModels(str(root / "base-chatml"), [run.path])
    models.load_all()
    with serving(create_app(models, None, "127.0.0.1")) as url:
        yield url, run.id, models


def post(url, body: bytes, headers: dict | None = None, timeout: float = 60) -> tuple[int, dict]:
    req = urllib.request.Request(url + "/v1/chat/completions", data=body, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def get_models(url, headers: dict | None = None) -> int:
    req = urllib.request.Request(url + "/v1/models", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def chat_body(model: str, messages: list, **kw) -> bytes:
    return json.dumps({"model": model, "messages": messages, "max_tokens": 4, **kw}).encode()


def send_raw(url: str, headers: dict, chunks) -> int:
    """POST piece by piece; the server may answer (and close) before the body is all sent, as it should past the
    limit, so a broken pipe while sending is expected and the answer is read afterwards."""
    import http.client
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/v1/chat/completions")
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    try:
        for chunk in chunks:
            conn.send(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return conn.getresponse().status


def test_bodies_and_conversations_are_bounded(server):
    url, run_id, _ = server
    big = b'{"model": "base", "messages": [{"role": "user", "content": "' + b"a" * MAX_BODY_BYTES + b'"}]}'
    assert send_raw(url, {"Content-Type": "application/json", "Content-Length": str(len(big))},
                    [big[i:i + 65536] for i in range(0, len(big), 65536)]) == 413
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": "x"} for i in range(MAX_MESSAGES + 1)]
    status, err = post(url, chat_body("base", turns))
    assert status == 400 and err["error"]["code"] == "too_many_messages"
    status, err = post(url, chat_body("base", [{"role": "user", "content": "あ" * 100_001}]))
    assert status == 400 and err["error"]["code"] == "message_too_long"
    # wrong content type (a cross-site "simple request"), a model that is not a string, bad stream_options
    assert post(url, chat_body("base", [{"role": "user", "content": "hi"}]), {"Content-Type": "text/plain"})[0] == 415
    status, err = post(url, chat_body(["base"], [{"role": "user", "content": "hi"}]))
    assert status == 400 and err["error"]["param"] == "model"
    status, err = post(url, chat_body("base", [{"role": "user", "content": "hi"}], stream=True, stream_options="x"))
    assert status == 400 and err["error"]["param"] == "stream_options"


def test_a_chunked_body_past_the_limit_is_refused(server):
    url, _, _ = server
    chunk = b"a" * 65536
    pieces = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * (MAX_BODY_BYTES // 65536 + 2) + [b"0\r\n\r\n"]
    assert send_raw(url, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, pieces) == 413


def test_loopback_only_answers_loopback_hosts_and_origins(server):
    url, _, _ = server
    assert get_models(url) == 200
    assert get_models(url, {"Host": "evil.example:80"}) == 403          # DNS rebinding
    assert get_models(url, {"Origin": "https://evil.example"}) == 403   # a web page
    assert get_models(url, {"Origin": "http://localhost:3000"}) == 200


def test_a_huge_conversation_never_holds_the_other_requests(server):
    url, run_id, _ = server
    turns = []
    for i in range(MAX_MESSAGES - 1):
        turns.append({"role": "user" if i % 2 == 0 else "assistant", "content": "ごきげんよう。" * 40})
    turns.append({"role": "user", "content": "x" * 90_000})
    done = {}

    def heavy():
        done["status"] = post(url, chat_body(run_id, turns), timeout=300)[0]
    thread = threading.Thread(target=heavy)
    thread.start()
    slowest = 0.0
    while thread.is_alive():
        t0 = time.time()
        assert get_models(url) == 200
        slowest = max(slowest, time.time() - t0)
        time.sleep(0.2)
    thread.join()
    assert done["status"] == 200 and slowest < 1.0, slowest


def test_the_prompt_cut_is_linear_in_the_input(server):
    _, run_id, models = server
    served = models.resolve(run_id)
    engine = models.engine_for(served)
    times = []
    for n in (300, 1200):   # best of three each: a busy machine adds noise, not a trend
        row = models.row(served, [("ごきげんよう。" * 10, "ええ。" * 10)] * n, "元気？", None)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            ids, cut = engine.prompt_ids(row, 16)
            best = min(best, time.perf_counter() - t0)
        times.append(best)
        assert cut and len(ids) <= engine.context_length() - 16
    assert times[1] < times[0] * 10, times     # 4x the turns: quadratic would be 16x


def test_no_keyless_bind_beyond_loopback():
    with pytest.raises(StudioError) as e:
        check_bind("0.0.0.0", None)
    assert e.value.key == "err.serve.no_key"
    check_bind("0.0.0.0", "sk-x")
    check_bind("127.0.0.1", None)
    out = subprocess.run([sys.executable, "-m", "studio", "serve", "--host", "0.0.0.0", "--port", "8999"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "API key" in out.stderr


def test_lower_case_bearer_is_accepted(tmp_path):
    from starlette.testclient import TestClient
    models = ServedModels.__new__(ServedModels)
    models.names = {"base": ("base", None)}
    app = create_app(models, "sk-k", "127.0.0.1")
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.get("/v1/models", headers={"authorization": "bearer sk-k"}).status_code == 200
        assert c.get("/v1/models", headers={"authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.slow
def test_an_abandoned_request_stops_generating_and_sigterm_ends_the_server(tmp_path):
    """A client that gives up frees the model at the next token (the next request does not wait for the first
    to run out its tokens); SIGTERM ends the server within seconds even while it generates. The model is a bigger
    random one, so that a full reply takes longer (~10 s here) than the bounds checked."""
    import signal

    from studio.tiny import save_tiny_model
    model = save_tiny_model(tmp_path / "slow", "chatml", hidden_size=512, layers=12)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "studio", "serve", "--model", str(model), "--port", str(port)],
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if get_models(url) == 200:
                    break
            except OSError:
                time.sleep(0.3)
        long = chat_body("base", [{"role": "user", "content": "hi"}], max_tokens=400)
        gone = socket.create_connection(("127.0.0.1", port))   # a client that gives up after a second
        gone.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(long)}\r\n\r\n".encode() + long)
        time.sleep(1.0)
        gone.close()
        t0 = time.time()
        status, _ = post(url, chat_body("base", [{"role": "user", "content": "hi"}], max_tokens=2), timeout=120)
        assert status == 200 and time.time() - t0 < 6, time.time() - t0
        def busy():
            try:
                post(url, long, timeout=120)
            except (OSError, ValueError):
                pass   # the server goes away mid-reply: that is the point
        threading.Thread(target=busy, daemon=True).start()
        time.sleep(1.0)
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert time.time() - t0 < 10
    finally:
        if proc.poll() is None:
            proc.kill()
