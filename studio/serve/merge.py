"""Fold a LoRA adapter into its base model, verified; and combine several adapters into one.

The base is reloaded unquantized (bf16 on GPU, fp32 on CPU): merging into a 4-bit base would re-quantize the
merged weights and add rounding error on top of the adapter, so the merged model would not be the model you tested.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.integrity import ADAPTER_CONFIG, adapter_targets_problem
from studio.core.storage import fresh_partial, publish_partial
from studio.format.contract import Contract
from studio.format.render import generation_prompt_ids
from studio.format.templates import chat_template_jinja, get_template
from studio.jobs.folders import Run, new_run_folder
from studio.jobs.runs import adapter_dir
from studio.jobs.status import State

VERIFY_QUESTIONS = ["ごきげんよう。", "好きな食べ物は？", "What is the capital of France?"]
TOLERANCE = {"fp32": 1e-3, "bf16": 5e-2}
COMBINE_METHODS = ("linear", "ties", "dare_ties", "svd")


@dataclass
class MergeReport:
    out: Path
    max_logit_diff: float
    tolerance: float
    size_gb: float

    def summary_text(self):
        from studio.locale import T
        return T("merge.summary", out=str(self.out), size=f"{self.size_gb:.2f}", diff=f"{self.max_logit_diff:.2e}",
                 tol=f"{self.tolerance:g}")

    def summary(self, lang: str = "en") -> str:
        return self.summary_text().render(lang)


def _load_base(contract: Contract, tokenizer_dir: Path):
    from transformers import AutoTokenizer

    from studio.core.models import dtype_name, load_model

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = load_model(contract.base_model_path)
    if contract.added_tokens:
        model.resize_token_embeddings(len(tok))
    return model, tok, dtype_name()


def _logits(model, tok, contract: Contract):
    import torch
    outs = []
    for q in VERIFY_QUESTIONS:
        ids = generation_prompt_ids(contract.conversation([], q), contract.template, tok)
        with torch.no_grad():
            outs.append(model(torch.tensor([ids], device=model.device)).logits.float().cpu())
    return outs


def _check_disk(out: Path, need_bytes: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out.parent).free
    if free < need_bytes * 1.1:
        raise StudioError("err.merge.disk_space", parent=out.parent, need_bytes=need_bytes / 2**30, free=free / 2**30)


def _quiet(fraction: float, message) -> None:
    """The default progress report: none."""


def merge_adapter(ref: str | Path, out: str | Path | None = None, runs_dir: Path | None = None,
                  use_checkpoint: bool = False, progress=_quiet) -> MergeReport:
    """Fold the adapter into its unquantized base, verify the logits, and write the model (under a temporary name,
    renamed only once verified and complete: a killed merge never leaves a half model that chat would offer)."""
    from peft import PeftModel

    from studio.locale import T, loading
    progress(0.02, loading("merge.p.loading"))
    src = adapter_dir(ref, runs_dir, use_checkpoint)
    contract = Contract.load(src)
    out = Path(out) if out else Run.of_adapter(src).merged
    if out.exists() and not out.is_dir():
        raise StudioError("err.export.out_not_dir", out=out)
    if out.exists() and any(out.iterdir()):
        raise StudioError("err.merge.out_not_empty", out=out)
    model, tok, precision = _load_base(contract, src)
    n_params = sum(p.numel() for p in model.parameters())
    _check_disk(out, n_params * (2 if precision == "bf16" else 4))
    progress(0.4, T("merge.p.applying"))
    problem = adapter_targets_problem(model, src / ADAPTER_CONFIG)
    if problem:
        raise StudioError("err.merge.adapter_unusable", path=src, problem=problem)
    peft_model = PeftModel.from_pretrained(model, src).eval()
    before = _logits(peft_model, tok, contract)
    merged = peft_model.merge_and_unload()
    progress(0.6, T("merge.p.verifying"))
    after = _logits(merged, tok, contract)
    diff = max(float((a - b).abs().max()) for a, b in zip(before, after))
    tol = TOLERANCE[precision]
    if not diff <= tol:
        raise StudioError("err.merge.verify_failed", diff=diff, tol=tol)
    if not get_template(contract.template).own_template:   # ours in Jinja; a model's own stays as it is
        tok.chat_template = chat_template_jinja(contract.template)
    merged.generation_config.eos_token_id = list(contract.stop_token_ids)
    merged.generation_config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    progress(0.75, T("merge.p.saving"))
    partial = fresh_partial(out)   # the studio's own hidden folder: an unrelated X.partial is never touched
    try:
        merged.save_pretrained(partial)
        tok.save_pretrained(partial)
        contract.save(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()  # checked empty above
    publish_partial(partial, out)
    size = sum(f.stat().st_size for f in out.glob("*.safetensors")) / 2**30
    return MergeReport(out=out, max_logit_diff=diff, tolerance=tol, size_gb=size)


def combine_into_run(refs: list[str], weights: list[float], method: str, runs_dir: Path, density: float = 0.5,
                     progress=_quiet) -> Path:
    """Combine adapters into a new finished run (<runs>/<time>-combined-<method>/adapter) that chat, merge and
    evaluation treat like a trained one."""

    from studio.jobs.status import write_status
    run = new_run_folder(runs_dir, f"combined-{method}").path
    combine_adapters(list(refs), list(weights), method, Run(run).adapter, runs_dir, density, progress=progress)
    write_status(run, state=State.FINISHED, step=0, total=0, combined_from=list(refs), weights=list(weights),
                 method=method)
    return run


def combine_adapters(refs: list[str | Path], weights: list[float], method: str, out: str | Path,
                     runs_dir: Path | None = None, density: float = 0.5, progress=_quiet) -> Path:
    """peft's add_weighted_adapter over several adapters of the same base and template -> one new adapter."""
    from peft import PeftModel

    from studio.locale import T, loading
    progress(0.05, loading("merge.p.loading"))

    if method not in COMBINE_METHODS:
        raise StudioError("err.merge.unknown_method", join=', '.join(COMBINE_METHODS))
    if len(refs) < 2 or len(refs) != len(weights):
        raise StudioError("err.merge.too_few")
    dirs = [adapter_dir(r, runs_dir) for r in refs]
    contracts = [Contract.load(d) for d in dirs]
    if len({(c.base_model_hash, c.template) for c in contracts}) != 1:
        raise StudioError("err.merge.different_bases")
    model, _tok, _ = _load_base(contracts[0], dirs[0])
    names = [f"a{i}" for i in range(len(dirs))]
    peft_model = PeftModel.from_pretrained(model, dirs[0], adapter_name=names[0])
    for name, d in zip(names[1:], dirs[1:]):
        peft_model.load_adapter(d, adapter_name=name)
    kwargs = {"density": density} if method in ("ties", "dare_ties") else {}
    try:
        peft_model.add_weighted_adapter(adapters=names, weights=list(weights), adapter_name="combined",
                                        combination_type=method, **kwargs)
    except ValueError as e:
        raise StudioError("err.merge.peft_refused", method=method, reason=e) from None
    peft_model.eval()  # new modules start in train mode (dropout)
    progress(0.8, T("merge.p.saving"))
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StudioError("err.merge.out_not_empty", out=out)   # never replace what is there
    tmp = fresh_partial(out)
    try:
        peft_model.save_pretrained(tmp, selected_adapters=["combined"])
        saved = tmp / "combined" if (tmp / "combined").exists() else tmp
        if out.exists():
            out.rmdir()
        shutil.move(str(saved), out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _tok.save_pretrained(out)
    contracts[0].save(out)
    return out
