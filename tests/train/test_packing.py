"""Padding-free training is exact: the examples of a batch go into one row with per-example position_ids, and the
loss and the LoRA gradients equal those of the same examples padded (and of each example run alone)."""
import pytest
import torch
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from studio.data.persona import Persona, QAPair
from studio.data.persona_store import save_persona
from studio.tiny import save_tiny_model
from studio.train.config import TrainConfig
from studio.train.worker import prepare

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)


def loss_and_grads(net, loss_of) -> tuple[float, list]:
    """The loss of one forward (`loss_of(net)`) and the gradients it gives every trainable (LoRA) parameter."""
    lora = [p for p in net.parameters() if p.requires_grad]
    net.zero_grad()
    loss = loss_of(net)
    loss.backward()
    return loss.item(), [p.grad.clone() for p in lora]


def model_loss(batch):
    return lambda net: net(**{k: v for k, v in batch.items() if torch.is_tensor(v)}).loss


def test_padding_free_batches_give_the_same_loss_and_gradients(tmp_path):
    model = save_tiny_model(tmp_path / "base", "chatml")
    pairs = [QAPair("ごきげんよう。", "ごきげんよう、ですわ。"),
             QAPair("好きな食べ物は何ですか？教えてください。", "紅茶とケーキですわ。"),
             QAPair("元気？", "ええ。"),
             QAPair("今日は何をして過ごしたの？ずっと気になっていましたの。", "ピアノを弾いておりましたの。")]
    save_persona(Persona(system_prompt="お嬢様", pairs=pairs), tmp_path / "p")
    cfg = TrainConfig(model=str(model), data=str(tmp_path / "p"), max_steps=1, batch_size=4, lora_r=4,
                      lora_dropout=0.0, load_in_4bit=False, max_length=128, warmup_steps=0)
    trainer = prepare(tmp_path / "run", cfg).trainer
    assert cfg.padding_free and trainer.data_collator.padding_free
    examples = [trainer.train_dataset[i] for i in range(len(pairs))]
    assert len({len(e["input_ids"]) for e in examples}) >= 3  # different lengths: padding matters
    net = trainer.model.train()

    def loss_and_grads_of(batch):
        return loss_and_grads(net, model_loss(batch))

    packed = trainer.data_collator(examples)
    assert packed["input_ids"].shape[0] == 1 and "attention_mask" not in packed
    pad = DataCollatorForLanguageModeling(pad_token_id=trainer.processing_class.pad_token_id)
    padded = pad(examples)
    lp, gp = loss_and_grads_of(packed)
    lq, gq = loss_and_grads_of(padded)
    assert abs(lp - lq) < 1e-5, (lp, lq)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(gp, gq))
    total, count = 0.0, 0
    for e in examples:  # the token-weighted mean of each example's own loss
        n = sum(label != -100 for label in e["labels"][1:])
        total, count = total + loss_and_grads_of(pad([e]))[0] * n, count + n
    assert abs(lp - total / count) < 1e-5


def test_packed_rows_keep_every_label_and_train_exactly(tmp_path):
    """Packing (best-fit decreasing) fills rows of max_length with whole examples: each example comes out with the
    very ids and labels the renderer made, and a batch of packed rows gives the loss and LoRA gradients of the same
    examples padded."""
    model = save_tiny_model(tmp_path / "base", "chatml")
    pairs = [QAPair(f"質問{i}？" * (i % 4 + 1), "ですわ。" * (i % 3 + 1)) for i in range(20)]
    save_persona(Persona(system_prompt="お嬢様", pairs=pairs), tmp_path / "p")
    cfg = TrainConfig(model=str(model), data=str(tmp_path / "p"), max_steps=1, batch_size=2, lora_r=4,
                      load_in_4bit=False, max_length=128, warmup_steps=0, packing=True)
    prepared = prepare(tmp_path / "run", cfg)
    trainer = prepared.trainer
    rows = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    assert len(rows) < len(pairs) and all(len(r["input_ids"]) <= 128 for r in rows)  # fewer, fuller rows

    def split(row):
        out, start = [], 0
        for n in row["seq_lengths"]:
            out.append({"input_ids": row["input_ids"][start:start + n], "labels": row["labels"][start:start + n]})
            start += n
        return out
    from studio.data.persona_store import load_persona
    from studio.format.formatting import FormatSettings, render_persona
    rendered = render_persona(load_persona(tmp_path / "p"), prepared.tokenizer,
                              FormatSettings(cfg.template, cfg.max_length, cfg.train_on, None)).renders
    inside = sorted((tuple(e["input_ids"]), tuple(e["labels"])) for r in rows for e in split(r))
    assert inside == sorted((tuple(r.input_ids), tuple(r.labels)) for r in rendered)  # every example, unchanged

    batch = trainer.data_collator(rows[:2])
    examples = split(rows[0]) + split(rows[1])
    assert batch["input_ids"].shape == (1, sum(len(e["input_ids"]) for e in examples))
    net = trainer.model.train()
    lp, gp = loss_and_grads(net, model_loss(batch))
    padded = DataCollatorForLanguageModeling(pad_token_id=prepared.tokenizer.pad_token_id)(examples)
    lq, gq = loss_and_grads(net, model_loss(padded))
    assert abs(lp - lq) < 1e-5, (lp, lq)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(gp, gq))
