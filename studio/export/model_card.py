"""A model card (README.md in the Hugging Face form) for every adapter, merged model and export: a YAML header the
Hub reads (base_model, library_name, license from the base, tags, language) and a body with the persona, the
template contract, the training settings, the lineage and the evaluation table when there is one. Sharing or
pushing a folder needs no hand-writing. No torch."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from studio.core.storage import atomic_write_text, load_yaml
from studio.format.contract import CONTRACT_FILE, Contract
from studio.jobs.folders import Run

LIBRARY = {"adapter": "peft", "merged": "transformers", "export": "gguf"}
CARD_FILE = "README.md"


def _base(contract: Contract) -> tuple[str | None, str]:
    """(the base's hub id, when known; its licence, from the base's own card when it has one)."""
    from studio.core.embedded_models import by_folder
    spec = by_folder(Path(contract.base_model_path or "").name) if contract.base_model_path else None
    if spec is not None:
        return spec.upstream, spec.licence
    hub = contract.base_model if re.fullmatch(r"[\w.-]+/[\w.-]+", contract.base_model or "") else None
    card = Path(contract.base_model_path or "") / CARD_FILE
    licence = "other"
    try:
        head = card.read_text(encoding="utf-8").split("---")
        meta = load_yaml(head[1]) if len(head) > 2 else {}
        licence = str((meta or {}).get("license") or licence)
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        pass
    return hub, licence


def _languages(text: str) -> list[str]:
    return ["ja", "en"] if re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text) else ["en"]


def _settings(run: Run) -> dict:
    cfg = run.settings()
    keys = ("method", "parent_run", "max_steps", "learning_rate", "batch_size", "grad_accum", "lora_r", "lora_alpha",
            "target_modules", "load_in_4bit", "max_length", "packing", "replay_share", "beta", "loss_type")
    return {k: cfg[k] for k in keys if isinstance(cfg, dict) and k in cfg and cfg[k] not in ("", None)}


def _eval_table(run: Run) -> str:
    from studio.eval.report import metric_rows
    from studio.eval.results import EvalResults
    res = EvalResults.load(run.results)
    if res is None:
        return ""
    rows = "".join(f"| {name} | {b} | {t} |\n" for name, b, t in metric_rows(res))
    return f"\n## Evaluation (held-out probe questions)\n\n| metric | base | tuned |\n| --- | --- | --- |\n{rows}"


def model_card(run: Run, contract: Contract, kind: str) -> str:
    """The card's text for the run's adapter, merged model or export (kind: adapter | merged | export)."""
    hub, licence = _base(contract)
    name = contract.persona_name or run.id
    header = {"library_name": LIBRARY[kind], "license": licence, "tags": ["persona-studio", "character", "roleplay",
              contract.method or "sft", *(["lora"] if kind == "adapter" else [])],
              "language": _languages(contract.system_prompt + name)}
    if hub:
        header["base_model"] = hub
    settings = _settings(run)
    lines = [f"# {name}", "",
             f"A character model made with Persona Studio ({'LoRA adapter' if kind == 'adapter' else kind}), run "
             f"`{run.id}`.", "", "## Template contract", "",
             "Prompt it exactly as it was trained (chat, merge, export and serving all use this):", "",
             f"- template: `{contract.template}`", f"- end of turn: `{contract.end_of_turn}`; stop ids "
             f"{list(contract.stop_token_ids)}", f"- max length: {contract.max_length}", "",
             "System prompt:", "", "```text", contract.system_for(), "```"]
    if contract.parent_run:
        lines += ["", "## Lineage", "", f"Trained with {contract.method.upper()} from run `{contract.parent_run}` "
                  f"on {contract.preference_rows} preference rows (data hash `{contract.preferences_hash}`)."]
    if settings:
        lines += ["", "## Training settings", "", "| setting | value |", "| --- | --- |",
                  *[f"| {k} | {v} |" for k, v in settings.items()]]
    base = contract.base_model if not hub else hub
    lines += ["", f"Base model: `{base}` (licence: {licence}). Data hash `{contract.data_hash}`."]
    from studio.core.embedded_models import licence_files
    notice = next((f for f in licence_files(contract.base_model_path) if f.name == "NOTICE"), None)
    if notice:
        lines += ["", notice.read_text(encoding="utf-8").strip()]
    head = yaml.safe_dump(header, allow_unicode=True, sort_keys=False)
    return f"---\n{head}---\n\n" + "\n".join(lines) + "\n" + _eval_table(run)


def card_for_merged(out: Path) -> Path | None:
    """After a merge: the card of the merged model, when it is a run's (its folder sits in the run)."""
    run = Run(Path(out).parent)
    return write_model_card(run, out, "merged") if run.is_run() and (Path(out) / CONTRACT_FILE).exists() else None


def write_model_card(run: Run, folder: Path, kind: str, contract: Contract | None = None) -> Path:
    """README.md beside the weights (the contract read from the folder when not given), and the notice and terms
    the base's licence asks every copy to carry (Gemma's)."""
    from studio.core.embedded_models import copy_licence_files
    contract = contract or Contract.load(folder)
    path = Path(folder) / CARD_FILE
    atomic_write_text(path, model_card(run, contract, kind), keep_backups=0)
    copy_licence_files(contract.base_model_path, folder)
    return path
