"""The memory estimate knows how batches are laid out (packed, padding-free, padded) and what each process holds."""
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
