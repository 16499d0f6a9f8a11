"""A run folder and the name of everything in it (DESIGN.md, "Run directory"), defined once. No torch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError
from studio.jobs.status import LOG, STATUS, STOP

CONFIG, METRICS, CONTRACT = "config.yaml", "metrics.jsonl", "contract.json"


@dataclass(frozen=True)
class Run:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    status = property(lambda self: self.path / STATUS)
    config = property(lambda self: self.path / CONFIG)
    metrics = property(lambda self: self.path / METRICS)
    log = property(lambda self: self.path / LOG)
    stop = property(lambda self: self.path / STOP)
    contract = property(lambda self: self.path / CONTRACT)
    data = property(lambda self: self.path / "data")              # the persona snapshot the run trained on
    checkpoints = property(lambda self: self.path / "checkpoints")
    adapter = property(lambda self: self.path / "adapter")        # the final LoRA adapter (+ tokenizer, contract)
    merged = property(lambda self: self.path / "merged")          # the verified merged model, once merged
    eval = property(lambda self: self.path / "eval")              # evaluation answers and results.json
    results = property(lambda self: self.path / "eval" / "results.json")

    def has_adapter(self) -> bool:
        return (self.adapter / "adapter_config.json").exists()

    def has_merged(self) -> bool:
        return (self.merged / "config.json").exists()


def resolve_run(ref: str | Path, runs_dir: Path | None) -> Run:
    """A run id (in runs_dir) or a run folder -> its Run; anything else is named in a message."""
    path = Path(ref)
    if not path.exists() and runs_dir is not None and (runs_dir / str(ref)).exists():
        path = runs_dir / str(ref)
    if not path.is_dir():
        raise StudioError("err.export.no_run", ref=ref)
    return Run(path)
