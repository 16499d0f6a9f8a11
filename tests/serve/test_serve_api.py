"""The OpenAI-compatible server, driven by the official `openai` client: models, streaming and not, two models
answering differently, no end-of-turn text in replies, 401/404/400 errors, 8 concurrent clients, a client that
disconnects mid-stream."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from studio.serve.chat import GenSettings
from studio.serve.models_served import ServedModels
from studio.serve.openai_api import create_app
from tests.conftest import finished_run, serving

KEY = "sk-test-ojousama"
END_TEXT = ("</s>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    run = finished_run(root, "chatml")
    models = ServedModels(str(root / "base-chatml"), [run.path])
    models.load_all()
    with serving(create_app(models, KEY)) as url:
        yield f"{url}/v1", run.id, models


def client(url, key=KEY):
    import openai
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=60)


def ask(c, model, text="ごきげんよう。", **kw):
    kw.setdefault("temperature", 0)
    kw.setdefault("max_tokens", 24)
    return c.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kw)


def test_models_and_two_models_answering_differently(server):
    url, run_id, models = server
    c = client(url)
    assert {m.id for m in c.models.list().data} == {"base", run_id}
    tuned, base = ask(c, run_id), ask(c, "base")
    assert tuned.choices[0].message.content != base.choices[0].message.content
    # the served reply is exactly what the Chat tab's engine answers for the same contract and prompt
    served = models.resolve(run_id)
    direct = models.engine_for(served).generate([models.row(served, [], "ごきげんよう。", None)],
                                                GenSettings(max_new_tokens=24))[0]
    assert tuned.choices[0].message.content == direct.text
    assert tuned.choices[0].finish_reason == ("stop" if direct.stopped else "length")
    assert tuned.usage.completion_tokens == direct.new_tokens and tuned.usage.prompt_tokens > 0
    for reply in (tuned, base):
        assert not any(t in reply.choices[0].message.content for t in END_TEXT)


def test_streaming_gives_the_same_text_by_deltas(server):
    url, run_id, _ = server
    c = client(url)
    whole = ask(c, run_id, "好きな食べ物は？").choices[0].message.content
    parts, finish, usage = [], None, None
    for ev in ask(c, run_id, "好きな食べ物は？", stream=True, stream_options={"include_usage": True}):
        if ev.choices:
            parts.append(ev.choices[0].delta.content or "")
            finish = ev.choices[0].finish_reason or finish
        usage = ev.usage or usage
    assert "".join(parts) == whole and finish in ("stop", "length")
    assert usage.completion_tokens == ask(c, run_id, "好きな食べ物は？").usage.completion_tokens
    assert not any(t in "".join(parts) for t in END_TEXT)


def test_stop_strings_cut_the_reply(server):
    url, run_id, _ = server
    c = client(url)
    whole = ask(c, "base", max_tokens=16).choices[0].message.content
    assert len(whole) > 3
    cut = ask(c, "base", max_tokens=16, stop=[whole[2:4]])
    assert cut.choices[0].message.content == whole[:whole.index(whole[2:4])]
    assert cut.choices[0].finish_reason == "stop"


def test_errors_are_openai_shaped_and_the_server_keeps_serving(server):
    import openai
    url, run_id, _ = server
    with pytest.raises(openai.AuthenticationError):
        ask(client(url, "wrong"), run_id)
    c = client(url)
    with pytest.raises(openai.NotFoundError) as e:
        ask(c, "no-such-model")
    assert e.value.body["code"] == "model_not_found" and "GET /v1/models" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=run_id, messages=[])
    assert e.value.body["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as e:
        ask(c, run_id, max_tokens=10**9)
    assert e.value.body["param"] == "max_tokens"
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model=run_id, messages=[{"role": "user", "content": [{"type": "image_url"}]}])
    with pytest.raises(openai.BadRequestError):
        ask(c, run_id, n=2)
    assert ask(c, run_id).choices[0].message.content is not None


def test_eight_concurrent_clients_each_get_their_own_answer(server):
    url, run_id, _ = server
    questions = [f"質問{i}ですわね？" for i in range(8)]
    c = client(url)
    expected = {q: ask(c, run_id if i % 2 else "base", q).choices[0].message.content
                for i, q in enumerate(questions)}
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda iq: ask(client(url), run_id if iq[0] % 2 else "base", iq[1]),
                            enumerate(questions)))
    assert [g.choices[0].message.content for g in got] == [expected[q] for q in questions]


def test_a_client_that_disconnects_mid_stream_frees_the_model(server):
    import httpx
    url, run_id, models = server
    engine = models.engine_for(models.resolve("base"))  # the random base never stops by itself
    lengths = []
    original = engine.model.generate

    def recording(*a, **kw):
        out = original(*a, **kw)
        lengths.append(out.shape[1] - kw["input_ids"].shape[1])
        return out
    engine.model.generate = recording
    try:
        body = {"model": "base", "messages": [{"role": "user", "content": "長いお話をして"}], "stream": True,
                "max_tokens": 480, "temperature": 1.0, "stop": ["\u3042" * 3]}
        with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {KEY}"}) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            while '"content": ""' in next(lines) or not engine.lock.locked():  # until generation is under way
                pass
        assert engine.lock.acquire(timeout=20)  # generation ended and let go of the model
        engine.lock.release()
        assert lengths and lengths[0] < 480, lengths   # it stopped early, not after all 480 tokens
    finally:
        engine.model.generate = original
    assert ask(client(url), run_id).choices[0].message.content is not None
