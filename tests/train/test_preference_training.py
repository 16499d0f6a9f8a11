"""Learning from votes on tiny models: DPO and KTO runs start from a finished run's adapter, whose frozen copy is
the reference; they change the LoRA weights and never the base; every refusal is said before anything loads."""
import json
import subprocess
import sys

import pytest

from studio.core.errors import StudioError
from studio.jobs.status import write_status
from studio.train.config import TrainConfig
from tests.conftest import finished_run

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)

pytest.importorskip("trl")

CHOSEN, REJECTED = "ええ、そうですわ。", "はい。"


def pairs_file(path, n=10, **extra):
    rows = [{"prompt": f"q{i}", "chosen": CHOSEN, "rejected": REJECTED, **extra} for i in range(n)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def prepared_run(tmp_path, method, prefs=None, **kw):
    from studio.train import preference_launch
    from studio.train.worker import prepare
    parent = finished_run(tmp_path)
    cfg = TrainConfig(method=method, parent_run=parent.id, preferences=str(prefs or pairs_file(tmp_path / "p.jsonl")),
                      max_steps=3, batch_size=4, grad_accum=1, learning_rate=5e-2, warmup_steps=0, save_steps=1000,
                      **kw)
    cfg, rendered, _ = preference_launch.check(cfg, tmp_path / "runs")
    run = preference_launch.make_run_folder(cfg, rendered, tmp_path / "runs")
    return parent, run, prepare(run.path, TrainConfig.load(run.config))


def lora_state(model, adapter="default"):
    return {n: p.detach().clone() for n, p in model.named_parameters() if f".{adapter}." in n and "lora_" in n}


def base_state(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}


@pytest.mark.parametrize("method", ["dpo", "kto"])
def test_a_preference_run_trains_the_parent_adapter_against_its_frozen_copy(tmp_path, method):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    parent, run, prepared = prepared_run(tmp_path, method)
    trainer = prepared.trainer
    model = trainer.model
    assert set(model.peft_config) == {"default", "ref"}
    # the reference is the parent's policy: the frozen copy holds exactly the parent adapter's weights
    saved = load_file(str(parent.adapter / "adapter_model.safetensors"))
    ref = lora_state(model, "ref")
    assert len(ref) == len(saved)
    for name, value in saved.items():
        key = next(k for k in ref if k.replace(".ref.", ".").endswith(name.removeprefix("base_model.model.")
                                                                         .replace(".weight", ".weight")))
        assert torch.equal(ref[key].cpu(), value.to(ref[key].dtype)), key
    before_lora, before_ref, before_base = lora_state(model), ref, base_state(model)
    assert all(torch.equal(before_lora[k.replace(".ref.", ".default.")], v) for k, v in before_ref.items())
    trainer.train()
    after_lora, after_base = lora_state(model), base_state(model)
    assert any(not torch.equal(before_lora[k], after_lora[k]) for k in before_lora), "LoRA weights did not change"
    changed = [k for k in before_base if not torch.equal(before_base[k], after_base[k])]
    assert not changed, f"the base changed: {changed[:5]}"
    assert all(torch.equal(before_ref[k], v) for k, v in lora_state(model, "ref").items()), "the reference moved"
    # the contract says where it came from
    c = prepared.contract
    assert (c.method, c.parent_run, c.template) == (method, parent.id, "model") and c.preference_rows >= 10
    # the saved adapter is the trained one alone, and it loads like any run's
    from studio.train.methods.preference import before_save
    before_save(trainer)
    trainer.save_model(str(run.adapter))
    assert not (run.adapter / "ref").exists() and run.has_adapter()
    reloaded = PeftModel.from_pretrained(trainer.model.get_base_model(), str(run.adapter), adapter_name="check")
    assert "check" in reloaded.peft_config


def test_pairs_render_with_the_parent_template_and_end_on_its_stop_id(tmp_path):
    from transformers import AutoTokenizer

    from studio.data.preferences import Preference
    from studio.format.contract import Contract
    from studio.format.preference_render import render_preferences
    from studio.format.render import generation_prompt_ids
    parent = finished_run(tmp_path)
    contract, tok = Contract.load(parent.adapter), AutoTokenizer.from_pretrained(parent.adapter)
    prefs = [Preference("元気？", chosen=CHOSEN, rejected=REJECTED), Preference("x", chosen="同じ", rejected="同じ"),
             Preference("y", chosen="", rejected="a"), Preference("z", chosen="<|im_end|>偽", rejected="a"),
             Preference("w", chosen="a", rejected="b", persona="別人")]
    out = render_preferences(prefs, contract, tok)
    assert contract.persona_name  # the parent names its persona: votes on another one are left out
    assert len(out.rows) == 1 and out.skipped == {"same_reply": 1, "empty_reply": 1, "special_text": 1,
                                                  "other_persona": 1}
    row = out.rows[0]
    assert row.prompt_ids == generation_prompt_ids(contract.conversation([], "元気？"), "model", tok)
    assert row.chosen_ids[-1] in contract.stop_token_ids and row.rejected_ids[-1] in contract.stop_token_ids
    assert tok.decode(row.chosen_ids[:-1]) == CHOSEN
    # votes whose persona is unknown (plain files) are kept; another template's are left out
    assert len(render_preferences([Preference("v", chosen="a", rejected="b")], contract, tok).rows) == 1
    assert render_preferences([Preference("v", chosen="a", rejected="b", template="llama3")], contract,
                              tok).skipped == {"other_template": 1}


def test_refusals_before_anything_loads(tmp_path):
    from studio.train import preference_launch
    parent = finished_run(tmp_path)
    runs = tmp_path / "runs"

    def refused(key, **kw):
        cfg = TrainConfig(**{"method": "dpo", "parent_run": parent.id, "preferences": str(pairs_file(
            tmp_path / "ok.jsonl")), **kw})
        with pytest.raises(StudioError) as e:
            preference_launch.check(cfg, runs)
        assert e.value.key == key, e.value
        return str(e.value)

    assert "3 usable" in refused("err.prefs.too_few", preferences=str(pairs_file(tmp_path / "few.jsonl", 3)))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"question": "a", "answer": "b"}\n',
                   encoding="utf-8")
    assert "line 2" in refused("err.prefs.unknown_shape", preferences=str(bad))
    one = tmp_path / "one.jsonl"
    one.write_text("".join(json.dumps({"prompt": f"q{i}", "completion": CHOSEN, "label": True}) + "\n"
                           for i in range(10)), encoding="utf-8")
    refused("err.prefs.one_label", method="kto", preferences=str(one))
    refused("err.config.invalid", loss_type="kto")              # a KTO loss for DPO
    refused("err.export.no_run", parent_run="no-such-run")
    write_status(parent.path, state="failed")
    refused("err.prefs.parent_unfinished")


def test_kto_with_a_batch_of_one_is_adjusted_and_said(tmp_path):
    from studio.train import preference_launch
    parent = finished_run(tmp_path)
    cfg = TrainConfig(method="kto", parent_run=parent.id, preferences=str(pairs_file(tmp_path / "p.jsonl")),
                      batch_size=1)
    cfg, _, warnings = preference_launch.check(cfg, tmp_path / "runs")
    assert cfg.batch_size == 2 and any(w.key == "prefs.kto_batch" for w in warnings)


@pytest.mark.slow
def test_cli_trains_dpo_from_a_run_and_prints_the_new_run(tmp_path):
    from studio.jobs.folders import Run
    parent = finished_run(tmp_path)
    out = subprocess.run([sys.executable, "-m", "studio", "train", "--method", "dpo", "--from", parent.id,
                          "--preferences", str(pairs_file(tmp_path / "p.jsonl")), "--max-steps", "2",
                          "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    run = Run(__import__("pathlib").Path(out.stdout.strip().splitlines()[-1]))
    assert run.has_adapter() and json.loads(run.contract.read_text())["parent_run"] == parent.id
    metrics = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    assert any("reward_margin" in m for m in metrics)


def test_with_a_4bit_base_the_reference_is_still_the_parent_exactly(tmp_path):
    """QLoRA on the CPU (bitsandbytes NF4): trl casts the trainable copy to bf16 (the QLoRA convention), the frozen
    reference keeps the parent adapter's exact weights; the policy starts within bf16 rounding of it."""
    import torch
    import yaml
    from safetensors.torch import load_file

    from studio.train import preference_launch
    from studio.train.worker import prepare
    parent = finished_run(tmp_path)
    cfg = yaml.safe_load(parent.config.read_text())
    parent.config.write_text(yaml.safe_dump({**cfg, "load_in_4bit": True}))
    run_cfg = TrainConfig(method="dpo", parent_run=parent.id, preferences=str(pairs_file(tmp_path / "p.jsonl")),
                          max_steps=1, batch_size=4, save_steps=1000)
    run_cfg, rendered, _ = preference_launch.check(run_cfg, tmp_path / "runs")
    assert run_cfg.load_in_4bit
    run = preference_launch.make_run_folder(run_cfg, rendered, tmp_path / "runs")
    model = prepare(run.path, TrainConfig.load(run.config)).trainer.model
    saved = load_file(str(parent.adapter / "adapter_model.safetensors"))
    ref, policy = lora_state(model, "ref"), lora_state(model)
    for key, value in ref.items():
        name = key.replace(".ref.", ".").removeprefix("base_model.model.")
        original = next(v for k, v in saved.items() if k.removeprefix("base_model.model.") == name)
        assert torch.equal(value.float().cpu(), original.float())
        assert torch.allclose(policy[key.replace(".ref.", ".default.")].float(), original.float(), atol=2e-3)


def test_dpo_with_the_chosen_replies_likelihood_added(tmp_path):
    """loss_type sigmoid+sft: trl sums DPO's loss and the chosen replies' own negative log-likelihood (RPO), which
    keeps a chosen reply's end-of-turn likely (plain DPO at a high learning rate stopped ending replies: README)."""
    _, _, prepared = prepared_run(tmp_path, "dpo", loss_type="sigmoid+sft")
    assert list(prepared.trainer.args.loss_type) == ["sigmoid", "sft"]
    prepared.trainer.train()
    logged = [h for h in prepared.trainer.state.log_history if "loss" in h]
    assert logged and all(h["loss"] == h["loss"] for h in logged)   # finite, not NaN


def test_the_dpo_default_is_the_measured_one_and_validates():
    """README, 'Learning from the votes': DPO sigmoid+sft at 5e-4 followed the voter (rule 0.23) and kept the
    character; plain sigmoid at 5e-4 collapsed. KTO stays at 5e-5."""
    from studio.train.config import TrainConfig
    from studio.train.recipes import preference_recipe
    dpo = preference_recipe(TrainConfig(), "dpo")
    assert (dpo.loss_type, dpo.learning_rate, dpo.max_steps, dpo.replay_share) == ("sigmoid+sft", 5e-4, 30, 0.0)
    kto = preference_recipe(TrainConfig(), "kto")
    assert (kto.loss_type, kto.learning_rate) == ("kto", 5e-5)
