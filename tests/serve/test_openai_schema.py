"""The OpenAI server's request model: any JSON a client sends either parses or is refused with a 400 that names its
field (generated bodies), kinds are strict (true is not 1, "5" is not 5), and fields OpenAI clients add are ignored."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.serve.openai_schema import (
    MAX_MESSAGES,
    MAX_STOP,
    ApiError,
    ChatCompletionChunk,
    ChunkChoice,
    Delta,
    parse_request,
)

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=20)
FIELDS = ["model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stop", "seed",
          "stream", "stream_options", "user"]
bodies = st.fixed_dictionaries({"model": st.just("m"), "messages": st.just([{"role": "user", "content": "hi"}])},
                               optional={k: json_values for k in FIELDS[2:]}) | json_values


@given(bodies)
@settings(max_examples=120, deadline=None)
def test_any_body_parses_or_is_refused_with_a_named_400(body):
    try:
        req = parse_request(body)
    except ApiError as e:
        assert e.status == 400 and e.message
        assert e.param is None or e.param.split("[")[0] in FIELDS or e.param == "messages"
        return
    assert req.model == "m" and req.messages and req.n == 1


def ok(**extra):
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


@pytest.mark.parametrize("extra,param", [
    ({"max_tokens": True}, "max_tokens"), ({"max_tokens": "5"}, "max_tokens"), ({"max_tokens": 0}, "max_tokens"),
    ({"temperature": 3}, "temperature"), ({"stream": "yes"}, "stream"), ({"n": 2}, "n"),
    ({"stop": ["a"] * (MAX_STOP + 1)}, "stop"), ({"stop": [""]}, "stop"), ({"stream_options": []}, "stream_options"),
    ({"messages": []}, "messages"), ({"messages": [{"role": "user"}]}, "messages[0]"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]}, "messages[0]"),
    ({"model": 5}, "model")])
def test_refusals_name_the_field(extra, param):
    with pytest.raises(ApiError) as e:
        parse_request(ok(**extra))
    assert e.value.status == 400 and e.value.param == param


def test_strict_kinds_limits_and_ignored_extras():
    req = parse_request(ok(temperature=0, top_p=1, user="u1", presence_penalty=0.5, stop="END", stream=True,
                           stream_options={"include_usage": True},
                           messages=[{"role": "system", "content": [{"type": "text", "text": "a"},
                                                                    {"type": "text", "text": "b"}]},
                                     {"role": "user", "content": "hi", "name": "x"}]))
    assert req.temperature == 0.0 and req.stops() == ["END"] and req.stream_options.include_usage
    assert req.messages[0].text() == "ab"
    with pytest.raises(ApiError) as e:
        parse_request(ok(messages=[{"role": "user", "content": "x"}] * (MAX_MESSAGES + 1)))
    assert e.value.code == "too_many_messages"
    with pytest.raises(ApiError):
        parse_request([ok()])


def test_stream_chunks_carry_only_what_openai_sends():
    first = ChatCompletionChunk(id="c", created=1, model="m",
                                choices=[ChunkChoice(delta=Delta(role="assistant", content=""))]).event()
    assert '"delta": {"role": "assistant", "content": ""}' in first and '"finish_reason": null' in first
    assert "usage" not in first and first.startswith("data: ") and first.endswith("\n\n")
    last = ChatCompletionChunk(id="c", created=1, model="m", choices=[ChunkChoice(delta=Delta(), finish_reason="stop")])
    assert '"delta": {}' in last.event() and '"finish_reason": "stop"' in last.event()
    assert "ですわ" in ChatCompletionChunk(id="c", created=1, model="m",
                                         choices=[ChunkChoice(delta=Delta(content="ですわ"))]).event()
