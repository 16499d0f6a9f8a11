"""What DPO and KTO share: the parent run (its adapter is where training starts and, frozen, the reference), the
preferences rendered with the parent's contract and tokenizer, and the trainer arguments. Imported only by the
training worker."""
from __future__ import annotations

from pathlib import Path

from studio.core.errors import StudioError
from studio.data.preferences import load_rows, preferences_hash
from studio.format.contract import Contract
from studio.format.preference_render import RenderedPreferences, render_preferences
from studio.jobs.folders import Run, resolve_run
from studio.train.steps import Setup, TrainData, common_args

PREFERENCES_FILE = "preferences.jsonl"   # in the run folder: the preferences it trains on, normalised


def parent_adapter(setup: Setup) -> Path:
    parent = resolve_run(setup.cfg.parent_run, setup.run.parent)
    if not parent.has_adapter():
        raise StudioError("err.prefs.parent_unfinished", run=parent.id, state="-")
    return parent.adapter


def rendered(setup: Setup) -> tuple[RenderedPreferences, str]:
    """The run's preferences as ids (with the parent's tokenizer and contract), and their hash."""
    from transformers import AutoTokenizer
    adapter = parent_adapter(setup)
    from studio.core.models import seal_added_tokens
    setup.tokenizer = seal_added_tokens(AutoTokenizer.from_pretrained(adapter))  # the parent's (control tokens too)
    contract = Contract.load(adapter)
    prefs = load_rows(Run(setup.run).path / PREFERENCES_FILE)
    return render_preferences(prefs, contract, setup.tokenizer, setup.cfg.max_length), preferences_hash(prefs)


def starting_model(setup: Setup, model):
    """The base with the parent's adapter, trainable: trl copies it as the frozen 'ref' adapter, so the reference
    is the parent's policy (not the bare base), and the base is loaded once."""
    from peft import PeftModel
    contract = Contract.load(parent_adapter(setup))
    if contract.added_tokens:
        model.resize_token_embeddings(len(setup.tokenizer))
    return PeftModel.from_pretrained(model, str(parent_adapter(setup)), is_trainable=True)


def data_of(setup: Setup, columns: dict, rendered_prefs: RenderedPreferences, digest: str) -> TrainData:
    from datasets import Dataset
    data = TrainData(Dataset.from_dict(columns), None, len(rendered_prefs.rows))
    data.preferences_hash, data.skipped = digest, dict(rendered_prefs.skipped)
    print(f"preferences: {len(rendered_prefs.rows)} used, skipped {rendered_prefs.skipped or 'none'}", flush=True)
    return data


def shared_args(setup: Setup) -> dict:
    """Trainer arguments of both methods: the common ones, beta, lengths; no packing (pairs are scored whole)."""
    cfg = setup.cfg
    return dict(**common_args(setup, has_eval=False), beta=cfg.beta, max_length=cfg.max_length,
                precompute_ref_log_probs=False)


def before_save(trainer) -> None:
    """The frozen 'ref' copy is the parent's adapter: only the trained one is saved."""
    model = trainer.model
    if "ref" in getattr(model, "peft_config", {}):
        model.delete_adapter("ref")
