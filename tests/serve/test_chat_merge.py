"""Chat engine and merging on a tiny model with adapters trained in the test."""
import json

import pytest

torch = pytest.importorskip("torch")

from studio.core.errors import StudioError  # noqa: E402
from studio.format.contract import Contract  # noqa: E402
from studio.format.render import generation_prompt_ids  # noqa: E402
from studio.serve.chat import ChatEngine, GenSettings, Row  # noqa: E402
from studio.serve.merge import combine_adapters, merge_adapter  # noqa: E402
from studio.tiny import save_tiny_model  # noqa: E402
from tests.conftest import train_adapter  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("chat")
    model = save_tiny_model(root / "base", "chatml")
    a1 = train_adapter(root / "one", model, 1)
    a2 = train_adapter(root / "two", model, 2)
    return model, a1, a2


def test_base_pane_equals_the_plain_base_model(setup):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model_dir, a1, _ = setup
    engine = ChatEngine(str(model_dir), device="cpu")
    contract = engine.add_adapter("tuned", a1)
    settings = GenSettings(max_new_tokens=12)
    base, tuned = engine.generate([Row(None, contract, [], "ごきげんよう"), Row("tuned", contract, [], "ごきげんよう")],
                                  settings)
    plain = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    ids = torch.tensor([generation_prompt_ids(contract.conversation([], "ごきげんよう"), contract.template, tok)])
    with torch.no_grad():
        ref = plain.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=contract.stop_token_ids,
                             pad_token_id=tok.pad_token_id)
    ref_ids = [t for t in ref[0, ids.shape[1]:].tolist() if t not in contract.stop_token_ids]
    assert base.text == tok.decode(ref_ids, skip_special_tokens=True).strip()
    assert tuned.text != base.text  # the adapter is really on for the other row of the same batch


def test_generation_stops_at_the_end_of_turn_id(setup):
    model_dir, a1, _ = setup
    engine = ChatEngine(str(model_dir), device="cpu")
    contract = engine.add_adapter("tuned", a1)
    free = engine.generate([Row(None, contract, [], "q1")], GenSettings(max_new_tokens=8))[0]
    assert free.new_tokens == 8 and not free.stopped  # cut by max_new_tokens: marked as not stopped
    third = free.token_ids[2]
    contract.stop_token_ids = [third]  # pretend that token ends the turn
    stopped = engine.generate([Row(None, contract, [], "q1")], GenSettings(max_new_tokens=8))[0]
    assert stopped.stopped and stopped.new_tokens <= 3


def test_long_message_is_cut_from_the_left_and_said(setup):
    model_dir, a1, _ = setup
    engine = ChatEngine(str(model_dir), device="cpu")
    contract = engine.add_adapter("tuned", a1)
    reply = engine.generate([Row("tuned", contract, [], "あ" * 20_000)], GenSettings(max_new_tokens=4))[0]
    assert reply.prompt_truncated
    with pytest.raises(StudioError, match="Type a message"):
        engine.generate([Row(None, contract, [], "  ")], GenSettings())


def test_mismatched_base_is_refused(setup, tmp_path):
    model_dir, a1, _ = setup
    other = save_tiny_model(tmp_path / "other", "chatml", hidden_size=32)
    with pytest.raises(StudioError, match="not on the selected base"):
        ChatEngine(str(other), device="cpu").add_adapter("x", a1)


def test_merge_matches_base_plus_adapter(setup, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model_dir, a1, _ = setup
    report = merge_adapter(a1, tmp_path / "merged")
    assert report.max_logit_diff <= 1e-3
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    ref = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), a1).eval()
    tok = AutoTokenizer.from_pretrained(tmp_path / "merged")
    contract = Contract.load(tmp_path / "merged")
    ids = torch.tensor([generation_prompt_ids(contract.conversation([], "q3"), contract.template, tok)])
    with torch.no_grad():
        assert (merged(ids).logits - ref(ids).logits).abs().max() < 1e-4
    gen = json.loads((tmp_path / "merged" / "generation_config.json").read_text())
    assert gen["eos_token_id"] == contract.stop_token_ids
    with pytest.raises(StudioError, match="already exists"):
        merge_adapter(a1, tmp_path / "merged")


def test_weighted_combination_loads_and_generates(setup, tmp_path):
    model_dir, a1, a2 = setup
    out = combine_adapters([a1, a2], [0.7, 0.3], "linear", tmp_path / "combined")
    assert (out / "adapter_model.safetensors").exists() and (out / "contract.json").exists()
    engine = ChatEngine(str(model_dir), device="cpu")
    contract = engine.add_adapter("combined", out)
    reply = engine.generate([Row("combined", contract, [], "q2")], GenSettings(max_new_tokens=4))[0]
    assert reply.new_tokens >= 1


@pytest.mark.parametrize("method", ["ties", "dare_ties", "svd"])
def test_other_combination_methods_load_and_generate(setup, tmp_path, method):
    model_dir, a1, a2 = setup
    out = combine_adapters([a1, a2], [0.5, 0.5], method, tmp_path / method)
    engine = ChatEngine(str(model_dir), device="cpu")
    contract = engine.add_adapter(method, out)
    base, combined = engine.generate([Row(None, contract, [], "q2"), Row(method, contract, [], "q2")],
                                     GenSettings(max_new_tokens=6))
    assert combined.new_tokens >= 1
    # the combination is real for every method: its LoRA weights are finite and neither input's (dare drops at
    # random, so its replies may match the base's; its weights still differ from both inputs)
    from safetensors.torch import load_file
    mixed, first, second = (load_file(d / "adapter_model.safetensors") for d in (out, a1, a2))
    assert set(mixed) == set(first) and all(t.isfinite().all() for t in mixed.values())
    assert any(not mixed[k].equal(first[k]) for k in mixed) and any(not mixed[k].equal(second[k]) for k in mixed)
    if method != "dare_ties":
        assert combined.token_ids != base.token_ids


def fake_running_run(tmp_path, adapter, step=5):
    """A run directory as the worker leaves it mid-training: live pid, a checkpoint, no final adapter."""
    import os
    import shutil

    from studio.jobs.status import pid_fields, write_status
    run = tmp_path / "runs" / "r1"
    ckpt = run / "checkpoints" / f"checkpoint-{step}"
    shutil.copytree(adapter, ckpt)
    (ckpt / "contract.json").unlink()
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    shutil.copy(adapter / "contract.json", run / "contract.json")
    write_status(run, state="running", **pid_fields(os.getpid()), step=step, total=100)
    return run


def test_merge_refuses_a_running_run_unless_asked_for_its_checkpoint(setup, tmp_path):
    _, a1, _ = setup
    run = fake_running_run(tmp_path, a1)
    with pytest.raises(StudioError, match="Run r1 is running and has no finished adapter yet"):
        merge_adapter("r1", runs_dir=run.parent)
    report = merge_adapter("r1", runs_dir=run.parent, use_checkpoint=True)
    assert report.out == run / "merged" and report.max_logit_diff <= 1e-3
    assert Contract.load(run / "merged").template == Contract.load(a1).template


def test_damaged_adapter_is_refused_by_name(setup, tmp_path):
    import shutil
    model_dir, a1, _ = setup
    bad = tmp_path / "bad"
    shutil.copytree(a1, bad)
    weights = bad / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    with pytest.raises(StudioError, match=r"adapter in .*bad cannot be used: adapter_model.safetensors holds"):
        ChatEngine(str(model_dir), device="cpu").add_adapter("bad", bad)
    with pytest.raises(StudioError, match="cannot be used"):
        merge_adapter(bad, tmp_path / "m")


def test_a_pane_that_cannot_load_does_not_stop_the_other(setup, tmp_path):
    import shutil

    from studio.serve.chat_session import ChatSession
    model_dir, a1, _ = setup
    runs = tmp_path / "runs"
    merged = runs / "r1" / "merged"
    shutil.copytree(model_dir, merged)
    shutil.copy(a1 / "contract.json", merged / "contract.json")  # names model_dir as its base
    (merged / "model.safetensors").write_bytes(b"\0" * 16)          # a merge cut short
    session = ChatSession(runs_dir=str(runs))
    session.start("merged:r1", "base", blind=False)
    *_, last = session.respond("ごきげんよう", GenSettings(max_new_tokens=4))
    assert last[0].startswith("⚠ Cannot load the model") and "merged" in last[0]
    assert last[1] and not last[1].startswith("⚠")
    assert session.panes[1].history and not session.panes[0].history


def test_registry_releases_every_session_and_forgets_closed_ones(setup, tmp_path):
    import gc
    import shutil

    from studio.serve.chat_session import ChatRegistry, ChatSession
    model_dir, a1, _ = setup
    runs = tmp_path / "runs"
    (runs / "r1").mkdir(parents=True)
    shutil.copytree(a1, runs / "r1" / "adapter")
    registry = ChatRegistry()
    sessions = [registry.track(ChatSession(runs_dir=str(runs))) for _ in range(2)]
    for s in sessions:
        s.start("base", "run:r1", blind=False)
        *_, first = s.respond("q1", GenSettings(max_new_tokens=3))
    engine = sessions[0].engines[str(model_dir)]
    assert registry.release_all() == 2
    assert engine.model is None and not sessions[0].engines and not sessions[1].engines
    *_, again = sessions[0].respond("q2", GenSettings(max_new_tokens=3))  # reloads, history kept
    assert not again[1].startswith("⚠") and len(sessions[0].panes[1].history) == 2
    del sessions, s
    gc.collect()
    assert registry.release_all() == 0  # closed sessions are not kept alive by the registry


def test_a_reply_cut_inside_a_character_ends_on_a_whole_character():
    """Byte-level BPE: a reply cut after the first byte of 好 used to end in U+FFFD (and was saved so in votes)."""
    from studio.serve.chat import decode_whole_chars
    from tests.tiny_toks import chatml
    tok = chatml()
    whole = tok("猫が", add_special_tokens=False)["input_ids"]
    first_byte = tok.convert_tokens_to_ids("å")  # 好 is e5 a5 bd in UTF-8; 'å' is byte e5 in the byte alphabet
    assert first_byte != tok.unk_token_id
    ids = whole + [first_byte]
    assert tok.decode(ids).endswith("\ufffd")          # the trap, reproduced
    assert decode_whole_chars(tok, ids) == "猫が"        # cut back to the last whole character
    assert decode_whole_chars(tok, whole) == "猫が"


def test_a_vote_while_the_panes_still_answer_is_refused_not_filed_under_the_previous_message(setup, tmp_path):
    """Issue 26: a vote pressed while streaming was refused as 'chat first' (or, with an earlier exchange not yet
    voted on, would have been recorded against that earlier exchange)."""
    import json
    import shutil

    from studio.core.errors import StudioError
    from studio.serve.chat_session import ChatSession
    _, a1, _ = setup
    shutil.copytree(a1, tmp_path / "runs" / "r1" / "adapter")
    session = ChatSession(runs_dir=str(tmp_path / "runs"))
    session.start("base", "run:r1", blind=False)
    log = tmp_path / "votes.jsonl"
    *_, first = session.respond("一つ目", GenSettings(max_new_tokens=3))
    stream = session.respond("二つ目", GenSettings(max_new_tokens=3))
    next(stream)                                               # the panes are streaming the second answer
    with pytest.raises(StudioError) as e:
        session.vote("A", [0, 1, 0, 1, 3, 0], log)
    assert e.value.key == "chat.wait_for_answers" and "回答が終わってから" in e.value.render("ja")
    with pytest.raises(StudioError):
        session.rate(0, True, [0, 1, 0, 1, 3, 0], log)
    assert not log.exists()
    for _ in stream:
        pass
    session.vote("A", [0, 1, 0, 1, 3, 0], log)
    assert json.loads(log.read_text(encoding="utf-8").splitlines()[0])["prompt"] == "二つ目"


def test_a_message_typed_while_the_panes_stream_is_kept_and_queued(setup, tmp_path, monkeypatch):
    """Issues 26 and 37: a second message sent while the answers stream was lost (the result box later said 'type a
    message first'). Send now takes the message from the box at once (not queued behind the stream) into the
    session's queue, and the answers come one message after another, in order."""
    import shutil

    import gradio as gr

    from studio.serve.chat_session import ChatRegistry
    from studio.ui.app import build_app
    from studio.ui.chat_tab import on_queue, on_send_next
    _, a1, _ = setup
    shutil.copytree(a1, tmp_path / "runs" / "r1" / "adapter")
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    chats, settings = ChatRegistry(), (0.0, 1.0, 0, 1.0, 4, 0, "", "ja")
    box, note, s = on_queue(chats, "ごきげんよう", None, "ja")
    assert box == "" and s.queued == ["ごきげんよう"]
    first = on_send_next(chats, "base", "run:r1", False, s, *settings)
    update = next(first)                                  # the first answer is streaming now
    assert s.answering and update[2] is not None and isinstance(update[2], type(gr.skip()))  # the box is left alone
    box, note, s = on_queue(chats, "次の質問です", s, "ja")  # sent meanwhile
    assert box == "" and "順番待ち" in note and s.queued == ["次の質問です"]
    list(first)
    assert [u for u, _ in s.panes[0].history] == ["ごきげんよう"]
    list(on_send_next(chats, "base", "run:r1", False, s, *settings))
    assert [u for u, _ in s.panes[0].history] == ["ごきげんよう", "次の質問です"] and not s.queued
    assert on_queue(chats, "  ", s, "ja")[1] == "先にメッセージを入力してください。"
    demo, _ = build_app()
    deps = demo.config["dependencies"]
    takes = [d for d in deps if not d.get("queue", True) and d.get("api_visibility") == "private"]
    assert len(takes) >= 2   # Send and Enter take the message at once, outside the queue
    answers = [f for f in demo.fns.values() if f.concurrency_id == "chat-answers"]
    assert len(answers) >= 5 and all(f.concurrency_limit == 1 for f in answers)   # send x2, regenerate x3


def test_a_system_prompt_tried_in_chat_reaches_both_panes_and_the_vote(setup, tmp_path, monkeypatch):
    """Issue 26: a system-prompt box in the Chat tab tries a prompt without retraining; what each pane was asked
    with (the prompt's ids) and what a vote records are the tried prompt, not the run's."""
    import json
    import shutil

    from studio.serve.chat import ChatEngine
    from studio.serve.chat_session import MAX_SYSTEM_CHARS, ChatSession
    _, a1, _ = setup
    shutil.copytree(a1, tmp_path / "runs" / "r1" / "adapter")
    asked = []
    real = ChatEngine.prompt_ids
    monkeypatch.setattr(ChatEngine, "prompt_ids", lambda self, row, n: asked.append(
        self.tokenizer.decode(real(self, row, n)[0])) or real(self, row, n))
    session = ChatSession(runs_dir=str(tmp_path / "runs"))
    session.start("base", "run:r1", blind=False)
    *_, last = session.respond("ごきげんよう", GenSettings(max_new_tokens=3), system="あなたは海賊の船長だ。")
    assert len(asked) == 2 and all("あなたは海賊の船長だ。" in p and "お嬢様" not in p for p in asked), asked
    log = tmp_path / "votes.jsonl"
    session.vote("A", [0, 1, 0, 1, 3, 0], log)
    sides = json.loads(log.read_text(encoding="utf-8"))["sides"]
    assert [s["system_prompt"] for s in sides] == ["あなたは海賊の船長だ。"] * 2
    asked.clear()
    *_, last = session.respond("もう一度", GenSettings(max_new_tokens=3))          # empty box: the run's own again
    assert "あなたは海賊の船長だ。" not in asked[1] and "お嬢様" in asked[1]
    with pytest.raises(StudioError) as e:
        next(session.respond("x", GenSettings(max_new_tokens=3), system="あ" * (MAX_SYSTEM_CHARS + 1)))
    assert e.value.key == "chat.system_too_long" and "短くして" in e.value.render("ja")


def test_regenerating_one_side_keeps_the_other_answer(setup, tmp_path):
    import json
    import shutil

    from studio.serve.chat_session import ChatRegistry, ChatSession
    from studio.ui.chat_tab import on_regen
    _, a1, _ = setup
    shutil.copytree(a1, tmp_path / "runs" / "r1" / "adapter")
    session = ChatSession(runs_dir=str(tmp_path / "runs"))
    session.start("base", "run:r1", blind=False)
    *_, first = session.respond("ごきげんよう", GenSettings(max_new_tokens=4))
    kept = list(session.panes[0].history)
    sampled = [1.5, 1.0, 0, 1.0, 4, 7]   # temperature 1.5, seed 7: B answers anew
    updates = list(on_regen(ChatRegistry(), "base", "run:r1", False, session, *sampled, "", "en", only=1))
    pane_a, pane_b = updates[-1][0], updates[-1][1]
    assert session.panes[0].history == kept and len(session.panes[1].history) == 1   # A untouched, B replaced
    assert [m["content"][0]["text"] for m in pane_a.value] == ["ごきげんよう", first[0]] and len(pane_b.value) == 2
    log = tmp_path / "votes.jsonl"
    session.vote("B", sampled, log)
    vote = json.loads(log.read_text(encoding="utf-8"))
    assert vote["prompt"] == "ごきげんよう" and vote["answer_b"] == session.panes[1].history[-1][1]
    assert vote["answer_a"] == kept[-1][1]
