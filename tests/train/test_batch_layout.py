"""The memory estimate knows how batches are laid out (packed, padding-free, padded) and what each process holds;
flash-attention is chosen only where it can run."""
import pytest

from studio.data.persona_store import load_persona
from studio.tiny import save_tiny_model
from studio.train.config import TrainConfig
from studio.train.memory import approx_lengths, batch_tokens, estimate

LENGTHS = [100, 60, 300, 40, 80]


def test_tokens_per_micro_batch_follow_the_layout():
    cfg = TrainConfig(batch_size=2, max_length=256)
    assert batch_tokens(cfg, LENGTHS) == 256 + 100            # padding-free: the two longest, end to end (cut at 256)
    cfg.padding_free = False
    assert batch_tokens(cfg, LENGTHS) == 2 * 256              # padded to the longest
    cfg.packing = True
    assert batch_tokens(cfg, [10, 10]) == 2 * 256             # packed rows are full, whatever the data
    assert batch_tokens(TrainConfig(batch_size=2, max_length=256), None) == 512  # unknown data: the most it can be


def test_estimate_per_process_and_for_packing(tmp_path):
    model = save_tiny_model(tmp_path / "tiny", "chatml")
    short = [30] * 10
    free = estimate(TrainConfig(batch_size=4, max_length=512), str(model), lengths=short)
    packed = estimate(TrainConfig(batch_size=4, max_length=512, packing=True), str(model), lengths=short)
    assert packed.parts["activations"] > free.parts["activations"] * 10   # 4 full rows vs 4 short examples
    ddp = estimate(TrainConfig(num_processes=2), str(model), "cuda")
    zero3 = estimate(TrainConfig(num_processes=2, strategy="deepspeed-zero3", load_in_4bit=False), str(model), "cuda")
    one = estimate(TrainConfig(load_in_4bit=False), str(model), "cuda")
    assert abs(zero3.parts["weights"] - one.parts["weights"] / 2) < 1e-9   # sharded over 2 processes
    assert "(per process)" in ddp.summary("en") and "プロセスごと" in ddp.summary("ja")
    assert "per process" not in one.summary("en")


def test_lengths_of_the_sample_persona_come_from_its_tokenizer(sample_dir, tmp_path):
    model = save_tiny_model(tmp_path / "tiny", "chatml")
    lengths = approx_lengths(load_persona(sample_dir), str(model))
    assert len(lengths) == 136 and all(n > 20 for n in lengths)
    assert approx_lengths(load_persona(sample_dir), str(tmp_path)) is None   # no tokenizer.json: no lengths


def test_flash_attention_only_where_it_runs(monkeypatch):
    import importlib.util

    from studio.train.worker import attention
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "flash_attn" else real(n, *a))
    assert attention(TrainConfig(packing=True), "cuda", "bf16") == "flash_attention_2"
    assert attention(TrainConfig(packing=True), "cpu", "fp32") is None
    assert attention(TrainConfig(packing=True), "cuda", "fp32") is None
    assert attention(TrainConfig(padding_free=False), "cuda", "bf16") is None      # padded batches: sdpa is fine
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "flash_attn" else real(n, *a))
    assert attention(TrainConfig(packing=True), "cuda", "bf16") is None             # not installed


def test_bucket_batches_are_length_aware_and_random_between_buckets():
    import random

    from studio.train.sampler import bucket_batches
    rng = random.Random(0)
    lengths = [rng.randint(20, 400) for _ in range(300)]
    batches = bucket_batches(lengths, 4, seed=1)
    assert sorted(i for b in batches for i in b) == list(range(300))           # every example once
    assert max(lengths[i] for i in batches[0]) == max(lengths)                 # the biggest batch first
    padded = sum(4 * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches)
    shuffled = list(range(300))
    rng.shuffle(shuffled)
    plain = [shuffled[i:i + 4] for i in range(0, 300, 4)]
    padded_plain = sum(4 * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in plain)
    assert padded < padded_plain / 3                                           # far less padding
    firsts = [max(lengths[i] for i in b) for b in batches[1:]]
    assert firsts != sorted(firsts, reverse=True)                              # not longest-to-shortest
    assert bucket_batches(lengths, 4, seed=2) != batches                       # another epoch, another order


@pytest.mark.slow
def test_padded_runs_use_the_bucket_sampler(tmp_path):
    from studio.data.persona import Persona, QAPair
    from studio.data.persona_store import save_persona
    from studio.train.sampler import BucketSampler
    from studio.train.worker import prepare
    model = save_tiny_model(tmp_path / "tiny", "chatml")
    pairs = [QAPair("q" * (i + 1), "ですわ。") for i in range(12)]
    save_persona(Persona(system_prompt="x", pairs=pairs), tmp_path / "p")
    base = dict(model=str(model), data=str(tmp_path / "p"), max_steps=1, batch_size=2, load_in_4bit=False,
                max_length=64, lora_r=4)
    padded = prepare(tmp_path / "a", TrainConfig(**base, padding_free=False)).trainer
    assert isinstance(padded._get_train_sampler(), BucketSampler)
    free = prepare(tmp_path / "b", TrainConfig(**base)).trainer
    assert not isinstance(free._get_train_sampler(), BucketSampler)            # padding-free: plain random order
