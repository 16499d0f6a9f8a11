"""An OpenAI-compatible HTTP API (FastAPI): GET /v1/models, POST /v1/chat/completions, streaming by server-sent
events or not. The contract formats every prompt and its stop ids end every reply; requests share one engine per
model, whose lock queues them, so concurrent clients never mix. Errors use OpenAI's JSON shape."""

import json
import secrets
import threading
import time
import uuid

from studio.core.errors import StudioError
from studio.serve.chat import GenSettings
from studio.serve.models_served import ServedModels

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations (Request) at runtime.
MAX_TOKENS_CAP = 2048
MAX_STOP = 4
# What one request may ask of a shared server (README, "Limits"): beyond them it gets a 413 or a 400 at once.
MAX_BODY_BYTES = 1_000_000        # the JSON body
MAX_MESSAGES = 256                # messages in one request
MAX_MESSAGE_CHARS = 100_000       # characters in one message
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def check_bind(host: str, api_key: str | None) -> None:
    """A server reachable from other machines needs a key: refused otherwise, saying how to set one."""
    if not is_loopback(host) and not api_key:
        raise StudioError("err.serve.no_key", host=host)


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind


def _text(content, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" and
                                         isinstance(p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise ApiError(400, f"{where}.content must be a string or a list of text parts", where)


def parse_messages(messages) -> tuple[str | None, list[tuple[str, str]], str]:
    """OpenAI messages -> (client system or None, (user, assistant) history, last user message)."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list", "messages")
    if len(messages) > MAX_MESSAGES:
        raise ApiError(400, f"at most {MAX_MESSAGES} messages in one request (got {len(messages)}); send the "
                            "conversation's recent part", "messages", "too_many_messages")
    system, history, pending = None, [], None
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant"):
            raise ApiError(400, f"{where} needs a role of system, user or assistant", where)
        text = _text(m.get("content"), where)
        if len(text) > MAX_MESSAGE_CHARS:
            raise ApiError(400, f"{where}.content is longer than {MAX_MESSAGE_CHARS} characters", where,
                           "message_too_long")
        if m["role"] in ("system", "developer"):
            system = text if system is None else f"{system}\n{text}"
        elif m["role"] == "user":
            pending = text if pending is None else f"{pending}\n{text}"
        elif pending is not None:
            history.append((pending, text))
            pending = None
    if pending is None or not pending.strip():
        raise ApiError(400, "the last message must be a non-empty user message", "messages")
    return system, history, pending


def _settings(body: dict, context: int) -> tuple[GenSettings, list[str]]:
    def number(name, default, lo, hi, kind=float):
        v = body.get(name, default)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not float(v).is_integer()):
            raise ApiError(400, f"'{name}' must be a number", name)
        if not lo <= v <= hi:
            raise ApiError(400, f"'{name}' must be between {lo} and {hi}", name)
        return kind(v)
    if body.get("n", 1) != 1:
        raise ApiError(400, "only n=1 is supported", "n")
    cap = max(1, min(MAX_TOKENS_CAP, context - 16))
    max_tokens = number("max_completion_tokens", None, 1, cap, int) or number("max_tokens", 256, 1, cap, int)
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop or []
    if not isinstance(stops, list) or len(stops) > MAX_STOP or not all(isinstance(s, str) and s for s in stops):
        raise ApiError(400, f"'stop' must be a string or a list of up to {MAX_STOP} strings", "stop")
    return GenSettings(temperature=number("temperature", 1.0, 0, 2), top_p=number("top_p", 1.0, 0.0001, 1),
                       max_new_tokens=max_tokens, seed=number("seed", 0, 0, 2**63 - 1, int)), stops


def _cut(text: str, stops: list[str]) -> tuple[str, bool]:
    at = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text[:at], True) if at >= 0 else (text, False)


async def _read_body(request) -> bytes:
    """The body, refused past MAX_BODY_BYTES whether it says its length or streams it (chunked)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, f"the request body is larger than {MAX_BODY_BYTES} bytes", code="body_too_large")
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > MAX_BODY_BYTES:
            raise ApiError(413, f"the request body is larger than {MAX_BODY_BYTES} bytes", code="body_too_large")
    return bytes(data)


def _host_of(value: str) -> str:
    value = value.split("://", 1)[-1].split("/", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 or value.startswith("[") else value


def create_app(models: ServedModels, api_key: str | None = None, bound: str = "127.0.0.1"):
    """The app; `bound` is the address it listens on: on loopback, requests must name a loopback Host (and Origin,
    when a browser sends one), so a web page cannot drive it (DNS rebinding, cross-site requests)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

    in_flight: set[threading.Event] = set()   # every running generation's cancel: set on shutdown

    @asynccontextmanager
    async def lifespan(app):
        yield
        for cancel in list(in_flight):
            cancel.set()   # a SIGTERM ends generations at their next token, so the server stops in seconds

    app = FastAPI(title="Persona Studio (OpenAI-compatible)", lifespan=lifespan)
    local_only = is_loopback(bound)

    def error(e: ApiError) -> JSONResponse:
        return JSONResponse({"error": {"message": e.message, "type": e.kind, "param": e.param, "code": e.code}},
                            status_code=e.status)

    @app.exception_handler(ApiError)
    async def _api_error(request, e: ApiError):
        return error(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, e):
        return error(ApiError(400, "the request body is not valid JSON"))

    def refusal(headers: dict) -> ApiError | None:
        if local_only:
            host, origin = headers.get("host", ""), headers.get("origin")
            if not is_loopback(_host_of(host)) or (origin and origin != "null" and not is_loopback(_host_of(origin))):
                return ApiError(403, "this server answers only requests to and from this machine",
                                code="forbidden_host", kind="permission_error")
        if api_key:
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), api_key.encode()):
                return ApiError(401, "missing or wrong API key (Authorization: Bearer ...)", code="invalid_api_key",
                                kind="authentication_error")
        return None

    class Guard:
        """Host, Origin and key checks as plain ASGI middleware (gradio-free, and unlike BaseHTTPMiddleware it leaves
        the handler able to see a client that went away)."""
        def __init__(self, inner):
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
                refused = refusal(headers)
                if refused is not None:
                    await error(refused)(scope, receive, send)
                    return
            await self.inner(scope, receive, send)

    app.add_middleware(Guard)

    @app.get("/v1/models")
    async def list_models():
        now = int(time.time())
        return {"object": "list", "data": [{"id": n, "object": "model", "created": now, "owned_by": "persona-studio"}
                                           for n in models.names]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise ApiError(415, "send the body as JSON (Content-Type: application/json)", code="unsupported_media")
        raw = await _read_body(request)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise ApiError(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        name = body.get("model")
        if not isinstance(name, str) or name not in models.names:
            raise ApiError(404, f"The model {name!r} does not exist; GET /v1/models lists them", "model",
                           "model_not_found")
        system, history, message = parse_messages(body.get("messages"))
        try:
            served = await run_in_threadpool(models.resolve, name)
        except StudioError as e:
            raise ApiError(500, str(e), kind="server_error") from None
        engine = models.engine_for(served)
        settings, stops = _settings(body, engine.context_length())
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise ApiError(400, "'stream_options' must be an object", "stream_options")
        row = models.row(served, history, message, system)
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        # the prompt is built off the event loop: a long conversation never holds the other requests
        prompt_tokens = len((await run_in_threadpool(engine.prompt_ids, row, settings.max_new_tokens))[0])
        cancel = threading.Event()
        in_flight.add(cancel)

        def chunk(delta: dict, finish: str | None = None) -> str:
            return "data: " + json.dumps({"id": cid, "object": "chat.completion.chunk", "created": created,
                                          "model": name, "choices": [{"index": 0, "delta": delta,
                                                                      "finish_reason": finish}]},
                                         ensure_ascii=False) + "\n\n"

        if body.get("stream"):
            async def events():
                sent, hold, used = "", max((len(s) for s in stops), default=1) - 1, 0
                yield chunk({"role": "assistant", "content": ""})
                finish = "length"
                try:
                    async for step in iterate_in_threadpool(engine.stream([row], settings, cancel)):
                        if await request.is_disconnected():
                            cancel.set()
                            return
                        if isinstance(step[0], str):
                            text, hit = _cut(step[0], stops)
                            safe = text if hit else text[:max(len(sent), len(text) - hold)]
                        else:
                            text, hit = _cut(step[0].text, stops)
                            safe, finish = text, "stop" if hit or step[0].stopped else "length"
                            used = step[0].new_tokens
                        if len(safe) > len(sent) and safe.startswith(sent):
                            yield chunk({"content": safe[len(sent):]})
                            sent = safe
                        if hit:
                            cancel.set()
                            finish = "stop"
                            break
                    yield chunk({}, finish)
                    if (options or {}).get("include_usage"):
                        yield "data: " + json.dumps({"id": cid, "object": "chat.completion.chunk", "created": created,
                                                     "model": name, "choices": [], "usage": {
                                                         "prompt_tokens": prompt_tokens, "completion_tokens": used,
                                                         "total_tokens": prompt_tokens + used}}) + "\n\n"
                    yield "data: [DONE]\n\n"
                finally:
                    cancel.set()
                    in_flight.discard(cancel)
            return StreamingResponse(events(), media_type="text/event-stream")

        import asyncio
        work = asyncio.ensure_future(run_in_threadpool(engine.generate, [row], settings, cancel))
        try:
            while not work.done():   # a client that goes away ends its generation at the next token
                await asyncio.wait({work}, timeout=0.5)
                if not work.done() and await request.is_disconnected():
                    cancel.set()
            replies = work.result()
        except StudioError as e:
            raise ApiError(500, str(e), kind="server_error") from None
        finally:
            cancel.set()
            in_flight.discard(cancel)
        text, hit = _cut(replies[0].text, stops)
        return {"id": cid, "object": "chat.completion", "created": created, "model": name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop" if hit or replies[0].stopped else "length"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": replies[0].new_tokens,
                          "total_tokens": prompt_tokens + replies[0].new_tokens}}

    return app
