"""An OpenAI-compatible HTTP API (FastAPI): GET /v1/models, POST /v1/chat/completions, streaming by server-sent
events or not. The contract formats every prompt and its stop ids end every reply; requests share one engine per
model, whose lock queues them, so concurrent clients never mix. Errors use OpenAI's JSON shape."""

import json
import secrets
import threading
import time
import uuid

from studio.core.errors import StudioError
from studio.serve import openai_schema as api
from studio.serve.chat import GenSettings
from studio.serve.models_served import ServedModels
from studio.serve.openai_schema import ApiError

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations (Request) at runtime.
# What one request may ask of a shared server (README, "Limits"): declared with the request (openai_schema.py);
# beyond them it gets a 413 or a 400 at once.
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def check_bind(host: str, api_key: str | None) -> None:
    """A server reachable from other machines needs a key: refused otherwise, saying how to set one."""
    if not is_loopback(host) and not api_key:
        raise StudioError("err.serve.no_key", host=host)


def parse_messages(messages: list[api.Message]) -> tuple[str | None, list[tuple[str, str]], str]:
    """OpenAI messages -> (client system or None, (user, assistant) history, last user message)."""
    system, history, pending = None, [], None
    for i, m in enumerate(messages):
        text = m.text()
        if len(text) > api.MAX_MESSAGE_CHARS:
            raise ApiError(400, f"messages[{i}].content is longer than {api.MAX_MESSAGE_CHARS} characters",
                           f"messages[{i}]", "message_too_long")
        if m.role in ("system", "developer"):
            system = text if system is None else f"{system}\n{text}"
        elif m.role == "user":
            pending = text if pending is None else f"{pending}\n{text}"
        elif pending is not None:
            history.append((pending, text))
            pending = None
    if pending is None or not pending.strip():
        raise ApiError(400, "the last message must be a non-empty user message", "messages")
    return system, history, pending


def _settings(req: api.ChatRequest, context: int) -> GenSettings:
    cap = max(1, min(api.MAX_TOKENS_CAP, context - 16))
    for name in ("max_completion_tokens", "max_tokens"):
        asked = getattr(req, name)
        if asked is not None and asked > cap:
            raise ApiError(400, f"'{name}' must be between 1 and {cap}", name)
    max_tokens = req.max_completion_tokens or req.max_tokens or min(256, cap)
    return GenSettings(temperature=1.0 if req.temperature is None else req.temperature,
                       top_p=1.0 if req.top_p is None else req.top_p, max_new_tokens=max_tokens, seed=req.seed or 0)


def _cut(text: str, stops: list[str]) -> tuple[str, bool]:
    at = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text[:at], True) if at >= 0 else (text, False)


async def _read_body(request) -> bytes:
    """The body, refused past api.MAX_BODY_BYTES whether it says its length or streams it (chunked)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > api.MAX_BODY_BYTES:
        raise ApiError(413, f"the request body is larger than {api.MAX_BODY_BYTES} bytes", code="body_too_large")
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > api.MAX_BODY_BYTES:
            raise ApiError(413, f"the request body is larger than {api.MAX_BODY_BYTES} bytes", code="body_too_large")
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
        return JSONResponse(e.body(), status_code=e.status)

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
        return api.ModelList(data=[api.ModelCard(id=n, created=now) for n in models.names]).model_dump()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise ApiError(415, "send the body as JSON (Content-Type: application/json)", code="unsupported_media")
        raw = await _read_body(request)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise ApiError(400, "the request body is not valid JSON") from None
        req = api.parse_request(body)
        name = req.model
        if name not in models.names:
            raise ApiError(404, f"The model {name!r} does not exist; GET /v1/models lists them", "model",
                           "model_not_found")
        system, history, message = parse_messages(req.messages)
        try:
            served = await run_in_threadpool(models.resolve, name)
        except StudioError as e:
            raise ApiError(500, str(e), kind="server_error") from None
        engine = models.engine_for(served)
        settings, stops = _settings(req, engine.context_length()), req.stops()
        row = models.row(served, history, message, system)
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        # the prompt is built off the event loop: a long conversation never holds the other requests
        prompt_tokens = len((await run_in_threadpool(engine.prompt_ids, row, settings.max_new_tokens))[0])
        cancel = threading.Event()
        in_flight.add(cancel)

        def chunk(delta: api.Delta, finish: str | None = None) -> str:
            return api.ChatCompletionChunk(id=cid, created=created, model=name,
                                       choices=[api.ChunkChoice(delta=delta, finish_reason=finish)]).event()

        if req.stream:
            async def events():
                sent, hold, used = "", max((len(s) for s in stops), default=1) - 1, 0
                yield chunk(api.Delta(role="assistant", content=""))
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
                            yield chunk(api.Delta(content=safe[len(sent):]))
                            sent = safe
                        if hit:
                            cancel.set()
                            finish = "stop"
                            break
                    yield chunk(api.Delta(), finish)
                    if req.stream_options is not None and req.stream_options.include_usage:
                        yield api.ChatCompletionChunk(id=cid, created=created, model=name, choices=[], usage=api.Usage(
                            prompt_tokens=prompt_tokens, completion_tokens=used,
                            total_tokens=prompt_tokens + used)).event()
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
        used = replies[0].new_tokens
        return api.ChatCompletion(id=cid, created=created, model=name, choices=[api.Choice(
            message=api.ReplyMessage(content=text), finish_reason="stop" if hit or replies[0].stopped else "length")],
            usage=api.Usage(prompt_tokens=prompt_tokens, completion_tokens=used, total_tokens=prompt_tokens + used)
        ).model_dump()

    return app
