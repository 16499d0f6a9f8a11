"""Padding-free training is exact: the examples of a batch go into one row with per-example position_ids, and the
loss and the LoRA gradients equal those of the same examples padded (and of each example run alone)."""
import torch
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from studio.data.persona import Persona, QAPair
from studio.data.persona_store import save_persona
from studio.tiny import save_tiny_model
from studio.train.config import TrainConfig
from studio.train.worker import prepare


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
    lora = [p for n, p in net.named_parameters() if p.requires_grad]

    def loss_and_grads(batch):
        net.zero_grad()
        loss = net(**{k: v for k, v in batch.items() if torch.is_tensor(v)}).loss
        loss.backward()
        return loss.item(), [p.grad.clone() for p in lora]

    packed = trainer.data_collator(examples)
    assert packed["input_ids"].shape[0] == 1 and "attention_mask" not in packed
    pad = DataCollatorForLanguageModeling(pad_token_id=trainer.processing_class.pad_token_id)
    padded = pad(examples)
    lp, gp = loss_and_grads(packed)
    lq, gq = loss_and_grads(padded)
    assert abs(lp - lq) < 1e-5, (lp, lq)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(gp, gq))
    total, count = 0.0, 0
    for e in examples:  # the token-weighted mean of each example's own loss
        n = sum(label != -100 for label in e["labels"][1:])
        total, count = total + loss_and_grads(pad([e]))[0] * n, count + n
    assert abs(lp - total / count) < 1e-5
