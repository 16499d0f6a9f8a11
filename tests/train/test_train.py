"""QLoRA training on a tiny random Llama with real 4-bit bitsandbytes on the CPU."""
import pytest

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)

torch = pytest.importorskip("torch")
pytest.importorskip("bitsandbytes")

from studio.core.errors import StudioError  # noqa: E402
from studio.data.persona import Persona, QAPair  # noqa: E402
from studio.data.persona_store import save_persona  # noqa: E402
from studio.format.render import IGNORE  # noqa: E402
from studio.tiny import save_tiny_model  # noqa: E402
from studio.train.config import TrainConfig  # noqa: E402
from studio.train.worker import prepare  # noqa: E402

PAIRS = [QAPair(f"質問{i}ですか？", a) for i, a in enumerate(
    ["ごきげんようですわ。", "紅茶が好きですの。", "わたくしは元気ですわ。", "ええ、そうですわね。"] * 2)]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny", "chatml")


@pytest.fixture
def persona_dir(tmp_path):
    save_persona(Persona(name="t", system_prompt="お嬢様として答えて", pairs=list(PAIRS)), tmp_path / "p")
    return tmp_path / "p"


def config(model, data, **kw):
    base = dict(model=str(model), data=str(data), template="model", max_steps=30, batch_size=4, grad_accum=1,
                learning_rate=5e-3, warmup_steps=0, save_steps=1000, lora_r=8, lora_alpha=16, max_length=128)
    return TrainConfig(**{**base, **kw})


def test_qlora_loss_falls_lora_changes_base_does_not(tmp_path, tiny_model, persona_dir):
    prepared = prepare(tmp_path / "run", config(tiny_model, persona_dir))
    model = prepared.trainer.model
    linear4 = [m for m in model.modules() if type(m).__name__ == "Linear4bit"]
    assert linear4, "the base must really be loaded in 4-bit"
    assert linear4[0].weight.quant_type == "nf4"
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
    frozen = {n: p.detach().clone() for n, p in model.named_parameters()
              if "lora_" not in n and p.dtype.is_floating_point}
    assert lora and all(p.requires_grad for n, p in model.named_parameters() if n in lora)
    prepared.trainer.train()
    losses = [h["loss"] for h in prepared.trainer.state.log_history if "loss" in h]
    assert sum(losses[-5:]) / 5 < losses[0] * 0.9, losses  # a random 64-wide model: logits stay flat
    after = dict(model.named_parameters())
    assert any(not torch.equal(lora[n], after[n].detach()) for n in lora)
    assert all(torch.equal(frozen[n], after[n].detach()) for n in frozen)
    q = [m for m in model.modules() if type(m).__name__ == "Linear4bit"][0]
    assert q.weight.dtype == torch.uint8  # still packed NF4 after training


def _examples(batch) -> list[tuple[list[int], list[int]]]:
    """(ids, labels) per example: rows of a padded batch, or the segments of a padding-free row (position 0 starts
    each example)."""
    if "attention_mask" in batch:
        return [(i[m.bool()].tolist(), lab[m.bool()].tolist())
                for i, lab, m in zip(batch["input_ids"], batch["labels"], batch["attention_mask"])]
    ids, labels, pos = batch["input_ids"][0].tolist(), batch["labels"][0].tolist(), batch["position_ids"][0].tolist()
    starts = [k for k, p in enumerate(pos) if p == 0] + [len(pos)]
    return [(ids[a:b], labels[a:b]) for a, b in zip(starts, starts[1:])]


@pytest.mark.parametrize("padding_free", [True, False])
def test_trainer_receives_masked_prompts_and_trained_eos(tmp_path, tiny_model, persona_dir, padding_free):
    prepared = prepare(tmp_path / "run", config(tiny_model, persona_dir, max_steps=1, padding_free=padding_free))
    batch = next(iter(prepared.trainer.get_train_dataloader()))
    assert ("position_ids" in batch) == padding_free and ("attention_mask" in batch) != padding_free
    tok = prepared.tokenizer
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    examples = _examples(batch)
    assert len(examples) == prepared.config.batch_size
    for ids, labels in examples:
        start = ids.index(tok.convert_tokens_to_ids("<|im_start|>"), 1)
        assert all(l == IGNORE for l in labels[:start + 3])  # system and user turns are masked
        trained = [i for i, l in zip(ids, labels) if l != IGNORE]
        assert trained[-1] == eot and tok.decode(trained[:-1]) in {p.answer for p in PAIRS}
    if not padding_free:
        assert (batch["labels"][~batch["attention_mask"].bool()] == IGNORE).all()  # padding masked by position


def test_invalid_settings_name_the_field(tmp_path, tiny_model, persona_dir):
    from studio.train.preflight import preflight
    for bad, field in ((dict(lora_r=0), "lora_r"), (dict(learning_rate=-1.0), "learning_rate"),
                       (dict(batch_size=50), "batch_size 50 is larger than the 8 training examples")):
        with pytest.raises(StudioError, match=field):
            preflight(config(tiny_model, persona_dir, **bad), check_doctor=False)
    for bad in (dict(replay_share=0.95), dict(replay_system="maybe")):
        with pytest.raises(StudioError, match="replay"):
            preflight(config(tiny_model, persona_dir, **bad), check_doctor=False)


def test_fused_kernels_are_refused_where_they_cannot_run(tmp_path, tiny_model, persona_dir, monkeypatch):
    import importlib.util

    from studio.train import launch, recipes
    cfg = config(tiny_model, persona_dir, use_liger=True)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "liger_kernel" else real(n, *a))
    with pytest.raises(StudioError, match="need the liger-kernel package") as e:
        launch.preflight(cfg, check_doctor=False)
    assert "liger-kernel パッケージ" in e.value.render("ja")
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "liger_kernel" else real(n, *a))
    monkeypatch.setattr(recipes, "detect_device", lambda: "cpu")
    with pytest.raises(StudioError, match="only on a CUDA GPU"):
        launch.preflight(cfg, check_doctor=False)


def test_doctor_errors_block_launch_without_override(tmp_path, tiny_model):
    save_persona(Persona(pairs=[QAPair("q", "a</s>"), *PAIRS]), tmp_path / "bad")
    from studio.train.preflight import preflight
    with pytest.raises(StudioError, match="EOS_SPLIT"):
        preflight(config(tiny_model, tmp_path / "bad"))
    warnings = preflight(config(tiny_model, tmp_path / "bad", allow_doctor_errors=True))
    assert "override" in str(warnings[0])


def test_validation_errors_block_launch_and_warnings_are_returned(tmp_path, tiny_model):
    """The README's promise: validation errors (an empty answer) block training like Doctor errors do."""
    save_persona(Persona(pairs=[*PAIRS, QAPair("空の答え", ""), PAIRS[0]]), tmp_path / "empty")
    from studio.train.preflight import preflight
    with pytest.raises(StudioError, match=r"EMPTY_ANSWER \(row 9\)"):
        preflight(config(tiny_model, tmp_path / "empty"))
    warnings = [str(w) for w in preflight(config(tiny_model, tmp_path / "empty", allow_doctor_errors=True))]
    assert "1 error" in warnings[0] and any(w.startswith("DUPLICATE (rows 1, 10") for w in warnings), warnings


def test_config_yaml_round_trip(tmp_path):
    cfg = TrainConfig(model="m", data="d", lora_r=32, neftune_alpha=5.0, target_modules=["q_proj"])
    (tmp_path / "c.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
    assert TrainConfig.load(tmp_path / "c.yaml") == cfg
    (tmp_path / "bad.yaml").write_text("lora_rank: 3\n", encoding="utf-8")
    with pytest.raises(StudioError, match="unknown setting.*lora_rank"):
        TrainConfig.load(tmp_path / "bad.yaml")


def test_added_control_tokens_resize_embeddings_and_train_their_rows(tmp_path, persona_dir):
    """llama3 headers on a ChatML model: with add_control_tokens the vocabulary grows, embeddings are resized,
    and the embedding and head rows are trained (saved with the adapter)."""
    model = save_tiny_model(tmp_path / "m", "chatml")
    with pytest.raises(StudioError, match="TEMPLATE_TOKEN_SPLIT"):
        prepare(tmp_path / "r0", config(model, persona_dir, template="llama3", max_steps=1))
    prepared = prepare(tmp_path / "r1", config(model, persona_dir, template="llama3", max_steps=2,
                                               add_control_tokens=True))
    tok, trainer = prepared.tokenizer, prepared.trainer
    assert prepared.contract.added_tokens == ["<|end_header_id|>", "<|eot_id|>", "<|start_header_id|>"]
    eot = tok.convert_tokens_to_ids("<|eot_id|>")
    assert trainer.model.get_input_embeddings().weight.shape[0] == len(tok) > eot
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert any("embed_tokens" in n for n in trainable) and any("lm_head" in n for n in trainable)
    trainer.train()
    assert prepared.contract.stop_token_ids[0] == eot
