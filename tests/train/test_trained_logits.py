"""The LM head scores only positions whose next token is trained (`trained_logits_only`, on by default): for SFT
(padded, padding-free and packed batches), DPO and KTO, the loss and the LoRA gradients equal those of scoring every
position; with the setting off a run still trains."""
import pytest
import torch

from studio.data.persona import Persona, QAPair
from studio.data.persona_store import save_persona
from studio.tiny import save_tiny_model
from studio.train.config import TrainConfig
from studio.train.worker import prepare
from tests.train.test_packing import loss_and_grads
from tests.train.test_preference_training import lora_state, prepared_run

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)


def both_ways(trainer, batch) -> None:
    """The trainer's own loss on `batch`, scoring trained positions only and then every position: equal."""
    net = trainer.model.train()

    def loss_of(net):
        return trainer.compute_loss(net, dict(batch))
    assert trainer.trained_logits_only  # the default
    compact = loss_and_grads(net, loss_of)
    trainer.trained_logits_only = False
    every = loss_and_grads(net, loss_of)
    trainer.trained_logits_only = True
    assert compact[1] and any(g.abs().sum() > 0 for g in compact[1])  # gradients reach the LoRA weights
    assert abs(compact[0] - every[0]) < 1e-5, (compact[0], every[0])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(compact[1], every[1]))


def rows_scored(trainer, batch) -> list[int]:
    """How many positions the fused LM head projects in each of its calls for one loss (policy, reference, KL)."""
    import trl.trainer.utils as tu
    seen = []
    original = tu._ChunkedLogProbFunction.apply

    def counting(hidden, *rest):
        seen.append(hidden.shape[0])
        return original(hidden, *rest)
    tu._ChunkedLogProbFunction.apply = counting
    try:
        with torch.no_grad():
            trainer.compute_loss(trainer.model, dict(batch))
    finally:
        tu._ChunkedLogProbFunction.apply = original
    return seen


def fewer_rows_scored(trainer, batch, at_most: float) -> None:
    compact = rows_scored(trainer, batch)
    trainer.trained_logits_only = False
    every = rows_scored(trainer, batch)
    trainer.trained_logits_only = True
    assert len(compact) == len(every) >= 1
    assert all(c <= at_most * e for c, e in zip(compact, every)), (compact, every)


@pytest.mark.parametrize("layout", ["padded", "padding_free", "packed"])
def test_sft_scores_only_trained_positions_exactly(tmp_path, layout):
    model = save_tiny_model(tmp_path / "base", "chatml")
    pairs = [QAPair(f"質問{i}？" * (i % 4 + 1), "ですわ。" * (i % 3 + 1)) for i in range(12)]
    save_persona(Persona(system_prompt="お嬢様として答えてください" * 3, pairs=pairs), tmp_path / "p")
    cfg = TrainConfig(model=str(model), data=str(tmp_path / "p"), max_steps=1, batch_size=4, lora_r=4,
                      load_in_4bit=False, max_length=128, warmup_steps=0, padding_free=layout != "padded",
                      packing=layout == "packed")
    trainer = prepare(tmp_path / "run", cfg).trainer
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(min(4, len(trainer.train_dataset)))])
    assert (batch["input_ids"].shape[0] == 1) == (layout != "padded")
    both_ways(trainer, batch)
    fewer_rows_scored(trainer, batch, at_most=0.5)   # the system prompt and questions never reach the head


@pytest.mark.parametrize("method", ["dpo", "kto"])
def test_preference_log_probs_score_only_trained_positions_exactly(tmp_path, method):
    """Policy and reference log-probabilities of the completions (DPO: chosen and rejected; KTO: the rated reply
    and its KL pair): the same loss and gradients either way."""
    _, _, prepared = prepared_run(tmp_path, method)
    trainer = prepared.trainer
    assert trainer.trained_logits_only
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    with torch.no_grad():  # move the policy off its reference, so the loss is not at its symmetric point
        for p in (p for n, p in trainer.model.named_parameters() if ".default." in n and "lora_B" in n):
            p.add_(0.05 * torch.randn_like(p))
    both_ways(trainer, batch)
    fewer_rows_scored(trainer, batch, at_most=0.9)   # the prompts (and padding) never reach the head


def test_with_the_setting_off_a_run_still_trains(tmp_path):
    model = save_tiny_model(tmp_path / "base", "chatml")
    save_persona(Persona(system_prompt="お嬢様", pairs=[QAPair(f"q{i}", "ですわ。") for i in range(8)]), tmp_path / "p")
    cfg = TrainConfig(model=str(model), data=str(tmp_path / "p"), max_steps=2, batch_size=4, lora_r=4,
                      load_in_4bit=False, max_length=64, warmup_steps=0, learning_rate=1e-2, save_steps=1000,
                      trained_logits_only=False)
    trainer = prepare(tmp_path / "run", cfg).trainer
    assert trainer.trained_logits_only is False
    before = lora_state(trainer.model)
    trainer.train()
    after = lora_state(trainer.model)
    assert any(not torch.equal(before[k], after[k]) for k in before)
