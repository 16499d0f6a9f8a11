"""The OpenAI-compatible API's requests and replies as pydantic models: what a client may send (kinds and ranges
checked by pydantic, fields OpenAI clients add that the studio does not use ignored), and the shapes it answers with.
The limits a shared server keeps (README, "Limits") are declared here; a refusal names the field as OpenAI does."""
from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_TOKENS_CAP = 2048
MAX_STOP = 4
MAX_BODY_BYTES = 1_000_000        # the JSON body
MAX_MESSAGES = 256                # messages in one request
MAX_MESSAGE_CHARS = 100_000       # characters in one message


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)   # "5" is not 5, true is not 1


class TextPart(_Request):
    type: Literal["text"]
    text: str


class Message(_Request):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(_Request):
    include_usage: bool = False


class ChatRequest(_Request):
    model: str
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: int | None = Field(None, ge=1)               # the model's context caps it too (checked when served)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0.0001, le=1)
    n: Literal[1] = 1
    stop: str | Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=MAX_STOP)] | None = None
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    stream: bool = False
    stream_options: StreamOptions | None = None

    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def refusal(e: ValidationError) -> ApiError:
    """A request pydantic refused, said as OpenAI does: the first problem, naming its field."""
    err = e.errors()[0]
    loc = err.get("loc", ())
    field = str(loc[0]) if loc else None
    if field == "messages":
        if len(loc) == 1:
            if err["type"] == "too_long":
                return ApiError(400, f"at most {MAX_MESSAGES} messages in one request; send the conversation's "
                                     "recent part", "messages", "too_many_messages")
            return ApiError(400, "'messages' must be a non-empty list", "messages")
        where = f"messages[{loc[1]}]"
        if len(loc) > 2 and loc[2] == "content":
            return ApiError(400, f"{where}.content must be a string or a list of text parts", where)
        return ApiError(400, f"{where} needs a role of system, user or assistant", where)
    said = {"stop": f"'stop' must be a string or a list of up to {MAX_STOP} non-empty strings",
            "n": "only n=1 is supported", "stream_options": "'stream_options' must be an object",
            "model": "'model' must be a string naming a model (GET /v1/models lists them)",
            "stream": "'stream' must be true or false"}
    if field in said:
        return ApiError(400, said[field], field)
    if field is None:
        return ApiError(400, "the request body must be a JSON object")
    return ApiError(400, f"'{field}': {err['msg']}", field)


def parse_request(body: object) -> ChatRequest:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as e:
        raise refusal(e) from None


# Replies

class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "persona-studio"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ReplyMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ReplyMessage
    finish_reason: Literal["stop", "length"]


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class Delta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None

    def event(self) -> str:
        """One server-sent event: a delta's empty fields left out (its role is sent once, first), finish_reason null
        until the last, usage only on the usage chunk, as OpenAI sends them."""
        data = self.model_dump(mode="json")
        for choice in data["choices"]:
            choice["delta"] = {k: v for k, v in choice["delta"].items() if v is not None}
        if data["usage"] is None:
            del data["usage"]
        return "data: " + json.dumps(data, ensure_ascii=False) + "\n\n"
