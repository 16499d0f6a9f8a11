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
    system, history, pending = None, [], None
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant"):
            raise ApiError(400, f"{where} needs a role of system, user or assistant", where)
        text = _text(m.get("content"), where)
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


def create_app(models: ServedModels, api_key: str | None = None):
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

    app = FastAPI(title="Persona Studio (OpenAI-compatible)")

    def error(e: ApiError) -> JSONResponse:
        return JSONResponse({"error": {"message": e.message, "type": e.kind, "param": e.param, "code": e.code}},
                            status_code=e.status)

    @app.exception_handler(ApiError)
    async def _api_error(request, e: ApiError):
        return error(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, e):
        return error(ApiError(400, "the request body is not valid JSON"))

    @app.middleware("http")
    async def _auth(request: Request, call_next):
        if api_key and not secrets.compare_digest(request.headers.get("authorization", ""), f"Bearer {api_key}"):
            return error(ApiError(401, "missing or wrong API key (Authorization: Bearer ...)", code="invalid_api_key",
                                  kind="authentication_error"))
        return await call_next(request)

    @app.get("/v1/models")
    async def list_models():
        now = int(time.time())
        return {"object": "list", "data": [{"id": n, "object": "model", "created": now, "owned_by": "persona-studio"}
                                           for n in models.names]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        name = body.get("model")
        if name not in models.names:
            raise ApiError(404, f"The model {name!r} does not exist; GET /v1/models lists them", "model",
                           "model_not_found")
        system, history, message = parse_messages(body.get("messages"))
        try:
            served = await run_in_threadpool(models.resolve, name)
        except StudioError as e:
            raise ApiError(500, str(e), kind="server_error") from None
        engine = models.engine_for(served)
        settings, stops = _settings(body, engine.context_length())
        row = models.row(served, history, message, system)
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        prompt_tokens = len(engine.prompt_ids(row, settings.max_new_tokens)[0])
        cancel = threading.Event()

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
                    if (body.get("stream_options") or {}).get("include_usage"):
                        yield "data: " + json.dumps({"id": cid, "object": "chat.completion.chunk", "created": created,
                                                     "model": name, "choices": [], "usage": {
                                                         "prompt_tokens": prompt_tokens, "completion_tokens": used,
                                                         "total_tokens": prompt_tokens + used}}) + "\n\n"
                    yield "data: [DONE]\n\n"
                finally:
                    cancel.set()
            return StreamingResponse(events(), media_type="text/event-stream")

        try:
            replies = await run_in_threadpool(engine.generate, [row], settings)
        except StudioError as e:
            raise ApiError(500, str(e), kind="server_error") from None
        text, hit = _cut(replies[0].text, stops)
        return {"id": cid, "object": "chat.completion", "created": created, "model": name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop" if hit or replies[0].stopped else "length"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": replies[0].new_tokens,
                          "total_tokens": prompt_tokens + replies[0].new_tokens}}

    return app
