"""Evaluation results, typed: what an evaluation writes to a run's eval/results.json, and reading it back (a saved
run's, or the one an evaluation job produced). A missing or damaged file reads as None (the Evaluate tab then says
'not evaluated yet'). No torch."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from studio.jobs.folders import JobFolder, Run
from studio.jobs.launcher import result
from studio.jobs.status import State, read_status

MODELS = ("base", "tuned")   # the two columns of every comparison (tuned against the base, or against its parent)


@dataclass
class Answered:
    """One held-out probe question and both models' replies."""
    question: str
    reference: str = ""
    base: str = ""
    tuned: str = ""
    base_stopped: bool = False
    tuned_stopped: bool = False


@dataclass
class FreeformAnswer:
    """One free-form knowledge question: the accepted answers ('a|b') and whether each model's reply holds one."""
    question: str
    accepted: str = ""
    lang: str = ""
    base: str = ""
    tuned: str = ""
    base_ok: bool = False
    tuned_ok: bool = False


@dataclass
class EvalResults:
    prompts: str = ""                    # the probe file asked
    max_new_tokens: int = 64
    against: str = "base"                # base | parent: what the 'base' column holds
    parent_run: str = ""
    freeform_base_as: str = "chat"       # chat | text: how the base was asked the free-form questions
    base: dict[str, float | None] = field(default_factory=dict)    # metric name (eval/registry.py) -> value
    tuned: dict[str, float | None] = field(default_factory=dict)
    answers: list[Answered] = field(default_factory=list)
    freeform: list[FreeformAnswer] = field(default_factory=list)
    freeform_drop: float | None = None   # free-form knowledge base -> tuned, in points (None: not measured)
    forgetting: bool = False
    collapse: bool = False
    complete: bool = False

    def metrics(self, model: str) -> dict[str, float | None]:
        return self.base if model == "base" else self.tuned

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_dict(cls, data: dict) -> EvalResults:
        """Refuses (ValueError) unknown keys and values of the wrong kind: a renamed key never reads as missing."""
        if not isinstance(data, dict):
            raise ValueError("not a mapping")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        for model in MODELS:
            metrics = data.get(model, {})
            if not isinstance(metrics, dict) or not all(
                    v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in metrics.values()):
                raise ValueError(f"{model}: not a mapping of metric values")
        for name, kinds in _KINDS.items():
            if name in data and not isinstance(data[name], kinds):
                raise ValueError(f"{name}: {type(data[name]).__name__}")
        try:
            answers = [Answered(**a) for a in data.get("answers", [])]
            free = [FreeformAnswer(**f) for f in data.get("freeform", [])]
        except TypeError as e:
            raise ValueError(str(e)) from None
        return cls(**{**data, "answers": answers, "freeform": free})

    @classmethod
    def load(cls, path: Path) -> EvalResults | None:
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None
        except (OSError, ValueError):
            return None


_KINDS = {"prompts": str, "max_new_tokens": int, "against": str, "parent_run": str, "freeform_base_as": str,
          "answers": list, "freeform": list, "freeform_drop": (int, float, type(None)), "forgetting": bool,
          "collapse": bool, "complete": bool}


def saved_results(ref: str | None, runs_dir: Path, against: str = "base") -> EvalResults | None:
    """The results of run `ref` against the base or its parent (a run id only: never a path that leaves the runs
    folder)."""
    if not ref or Path(str(ref)).name != str(ref) or str(ref) in (".", ".."):
        return None
    run = Run(runs_dir / str(ref))
    return EvalResults.load(run.results_parent if against == "parent" else run.results)


def job_results(job: str | Path, runs_dir: Path) -> tuple[EvalResults, dict] | None:
    """(results, the job's summary by language) of a finished evaluation job, else None."""
    folder = JobFolder(Path(job))
    if read_status(folder.path).state != State.FINISHED:
        return None
    try:
        params = json.loads(folder.params.read_text(encoding="utf-8"))
        ref, against = params["ref"], params.get("against") or "base"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if params.get("dialogs") is not None:   # a multi-turn evaluation: its results are the dialogues' (dialogs.py)
        return None
    res = saved_results(ref, runs_dir, against)
    summary = result(folder.path).get("summary", {})
    return (res, summary if isinstance(summary, dict) else {}) if res is not None else None
