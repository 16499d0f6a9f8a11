"""Replay: the base model's answers to general prompts join the training rows at a share, rendered by the same
renderer (with or without the persona's system prompt), marked as replay rows, recorded in the contract."""
import pytest

from studio.core.errors import StudioError
from studio.format.contract import model_hash
from studio.format.render import IGNORE
from studio.train import replay as rp

pytest.importorskip("bitsandbytes")
from tests.train import test_train as shared  # noqa: E402

config, persona_dir, tiny_model = shared.config, shared.persona_dir, shared.tiny_model   # fixtures shared

PROMPTS = ["What is the capital of Canada?", "カナダの首都はどこですか？", "What is 4 + 4?", "Name a colour."]
ANSWERS = [rp.ReplayAnswer(PROMPTS[0], "Ottawa.", True), rp.ReplayAnswer(PROMPTS[1], "オタワです。", True),
           rp.ReplayAnswer(PROMPTS[2], "8", True), rp.ReplayAnswer(PROMPTS[3], "Red, blue, green, red, blue", False)]


def test_share_and_rows():
    assert rp.replay_count(90, 0.25) == 30 and rp.replay_count(8, 0.5) == 8 and rp.replay_count(8, 0) == 0
    convs = rp.replay_conversations(ANSWERS, 5, "", first_row=9, seed=1)
    assert [c.rows for c in convs] == [[9], [10], [11], [12], [13]]
    # the answer cut at max_new_tokens is never trained (it would teach the model not to stop)
    assert all(c.turns[0][1] != ANSWERS[3].answer for c in convs)
    assert {c.turns[0][0] for c in convs[:3]} == set(PROMPTS[:3])   # each answer once before any repeats


def _prepare_with_cached_answers(tmp_path, tiny_model, persona_dir, **kw):
    from studio.train.worker import prepare
    prompts = tmp_path / "general.txt"
    prompts.write_text("\n".join(PROMPTS), encoding="utf-8")
    runs = tmp_path / "runs"
    key = rp.cache_key(model_hash(tiny_model), "model", PROMPTS, rp.MAX_NEW_TOKENS)
    rp.write_answers(runs / rp.CACHE_DIR / f"{key}.jsonl", model_hash(tiny_model), ANSWERS)
    cfg = config(tiny_model, persona_dir, max_steps=1, replay_prompts=str(prompts), **kw)
    return prepare(runs / "run", cfg), runs / "run"


@pytest.mark.slow
@pytest.mark.parametrize("system", ["none", "persona"])
def test_replay_rows_join_training_rendered_by_the_same_renderer(tmp_path, tiny_model, persona_dir, system):
    from studio.data.persona_store import load_persona
    from studio.format.formatting import FormatSettings, render_persona
    prepared, run = _prepare_with_cached_answers(tmp_path, tiny_model, persona_dir, replay_share=0.5,
                                                 replay_system=system)
    ds = prepared.trainer.train_dataset
    assert len(ds) == 16                          # 8 persona rows + 8 replay rows (a share of 0.5)
    assert (run / rp.RUN_FILE).exists()           # the run keeps the answers it trained on
    c = prepared.contract
    assert (c.replay_share, c.replay_rows, c.replay_system) == (0.5, 8, system)
    tok = prepared.tokenizer
    texts = [tok.decode(ids) for ids in ds["input_ids"]]
    replayed = [t for t in texts if "Ottawa." in t or "オタワです。" in t or t.rstrip().endswith("8<|im_end|>")]
    assert len(replayed) == 8
    assert all(("お嬢様として答えて" in t) == (system == "persona") for t in replayed)
    # the labels are the renderer's: only the answer and its end-of-turn are trained
    row = ds[[i for i, t in enumerate(texts) if "Ottawa." in t][0]]
    trained = tok.decode([i for i, lab in zip(row["input_ids"], row["labels"]) if lab != IGNORE])
    assert trained.startswith("Ottawa.") and "Canada" not in trained
    # the Format tab's view of the same rows: replay rows come after the table's and say so
    convs = rp.replay_conversations(ANSWERS, 2, "", first_row=9)
    result = render_persona(load_persona(persona_dir), tok, FormatSettings(template="model"), replay=convs)
    assert result.first_replay_row == 9 and result.is_replay(10) and not result.is_replay(8)


@pytest.mark.slow
def test_replay_answers_from_another_base_are_refused(tmp_path, tiny_model, persona_dir):
    from studio.train.worker import prepare
    run = tmp_path / "runs" / "run"
    rp.write_answers(run / rp.RUN_FILE, "another-base-hash", ANSWERS)
    with pytest.raises(StudioError) as e:
        prepare(run, config(tiny_model, persona_dir, max_steps=1, replay_share=0.3))
    assert e.value.key == "err.replay.other_base" and "replay.jsonl" in e.value.render("en")


def test_the_base_model_answers_through_the_template(tiny_model):
    answers = rp.generate_answers(str(tiny_model), "model", PROMPTS[:3], max_new_tokens=4, say=lambda m: None)
    assert [a.question for a in answers] == PROMPTS[:3]
    assert all(isinstance(a.answer, str) and isinstance(a.stopped, bool) for a in answers)
