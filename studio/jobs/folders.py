"""A run or job folder and the name of everything in it (DESIGN.md, "Run directory"), defined once; new folders
and run references (an id, or a folder) resolved here and nowhere else. No torch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.integrity import ADAPTER_CONFIG
from studio.core.stamp import new_stamped_folder, slug
from studio.jobs.status import LOG, PARAMS, PROGRESS, RESULT, STATUS, STOP

CONFIG, METRICS, CONTRACT = "config.yaml", "metrics.jsonl", "contract.json"   # contract.json: beside every adapter,
# merged model and export too (studio/format/contract.py reads and writes it)
ADAPTER, MERGED, CHECKPOINTS, EXPORT = "adapter", "merged", "checkpoints", "export"
EVAL, RESULTS = "eval", "results.json"
JOBS_DIR = ".jobs"  # beside the runs: <runs>/.jobs/<time>-<kind>-<label>/


@dataclass(frozen=True)
class JobFolder:
    """Files every job and run folder has: status, log, stop request, parameters, progress and result."""
    path: Path

    def __post_init__(self) -> None:   # a folder given as text is a Path all the same (paths are joined with /)
        object.__setattr__(self, "path", Path(self.path))

    @property
    def id(self) -> str:
        return self.path.name

    status = property(lambda self: self.path / STATUS)
    log = property(lambda self: self.path / LOG)
    stop = property(lambda self: self.path / STOP)
    params = property(lambda self: self.path / PARAMS)
    progress = property(lambda self: self.path / PROGRESS)
    result = property(lambda self: self.path / RESULT)
    rounds = property(lambda self: self.path / "rounds.json")       # an improvement job's rounds so far


@dataclass(frozen=True)
class Run(JobFolder):
    """A training run's folder: a job folder with a config, metrics, checkpoints, an adapter and what came later."""
    config = property(lambda self: self.path / CONFIG)
    metrics = property(lambda self: self.path / METRICS)
    contract = property(lambda self: self.path / CONTRACT)
    data = property(lambda self: self.path / "data")              # the persona snapshot the run trained on
    checkpoints = property(lambda self: self.path / CHECKPOINTS)
    adapter = property(lambda self: self.path / ADAPTER)          # the final LoRA adapter (+ tokenizer, contract)
    merged = property(lambda self: self.path / MERGED)            # the verified merged model, once merged
    eval = property(lambda self: self.path / EVAL)                # evaluation answers and results.json
    results = property(lambda self: self.path / EVAL / RESULTS)
    results_parent = property(lambda self: self.path / EVAL / "results-parent.json")  # against its parent run
    dialog_results = property(lambda self: self.path / EVAL / "dialogs.json")    # multi-turn, against the base
    judge_results = property(lambda self: self.path / EVAL / "judge.json")       # an optional judge's verdicts
    improvement = property(lambda self: self.path / "improvement.json")  # a round's record: kept, guards failed
    export = property(lambda self: self.path / EXPORT)            # GGUF + Modelfile
    ranks = property(lambda self: self.path / "ranks")            # several processes: each rank's error file
    tensorboard = property(lambda self: self.path / "tensorboard")  # TensorBoard event files (report_to)
    trackers = property(lambda self: self.path / "trackers")        # wandb / mlflow / trackio files (report_to)

    def settings(self) -> dict:
        """The run's config.yaml as plain data ({} when missing or unreadable), for the layers below training,
        which read a few of its values; training itself reads it typed (TrainConfig.load)."""
        from studio.core.storage import load_yaml
        try:
            data = load_yaml(self.config.read_text(encoding="utf-8"))
        except Exception:  # noqa: BLE001 - missing, damaged or refused: no settings to show
            return {}
        return data if isinstance(data, dict) else {}

    def has_adapter(self) -> bool:
        return (self.adapter / ADAPTER_CONFIG).exists()

    @classmethod
    def of_adapter(cls, adapter: Path) -> Run:
        """The run an adapter folder (or a checkpoint in it) belongs to."""
        adapter = Path(adapter)
        return cls(adapter.parent if adapter.name == ADAPTER else adapter.parent.parent)

    def has_merged(self) -> bool:
        return (self.merged / "config.json").exists()

    def is_run(self) -> bool:
        return self.status.exists() or self.config.exists()


def jobs_dir(runs_dir: Path) -> Path:
    return runs_dir / JOBS_DIR


def new_run_folder(runs_dir: Path, label: str) -> Run:
    """runs/<time>-<label> for a training or combined run."""
    return Run(new_stamped_folder(runs_dir, slug(label, 32) or "run"))


def new_job_folder(runs_dir: Path, kind: str, label: str = "") -> JobFolder:
    """runs/.jobs/<time>-<kind>[-label] for every other job."""
    name = slug(label)
    return JobFolder(new_stamped_folder(jobs_dir(runs_dir), f"{kind}-{name}" if name else kind))


def resolve_run(ref: str | Path, runs_dir: Path | None, inside: bool = False) -> Run:
    """A run id (in runs_dir) or a folder -> its Run; anything else is named in a message. inside=True (what the UI
    and other clients send): only a run of runs_dir, never a folder elsewhere ("../", an absolute path, a link)."""
    if inside:
        return Run(_inside(ref, runs_dir))
    path = locate(ref, runs_dir)
    if not path.is_dir():
        raise StudioError("err.export.no_run", ref=ref)
    return Run(path)


def locate(ref: str | Path, runs_dir: Path | None) -> Path:
    """The folder a reference names: a path as given, else an id in runs_dir (the one rule every resolver uses;
    nothing is checked here)."""
    path = Path(ref)
    if not path.exists() and runs_dir is not None and (Path(runs_dir) / str(ref)).exists():
        return Path(runs_dir) / str(ref)
    return path


def _inside(ref: str | Path, runs_dir: Path | None) -> Path:
    root = Path(runs_dir or ".").resolve()
    text = str(ref or "").strip()
    path = Path(text)
    candidate = path if path.is_absolute() else root / path
    try:
        real = candidate.resolve()
    except (OSError, RuntimeError):
        real = None
    if not text or real is None or real.parent != root or candidate.is_symlink():
        raise StudioError("err.run.outside", ref=text, runs_dir=root)
    if not real.is_dir():
        raise StudioError("err.export.no_run", ref=text)
    return real


def output_inside(out: str | Path, roots: list[Path]) -> Path:
    """An output folder the user typed: refused unless it lies inside one of the studio's folders."""
    target = Path(out).expanduser()
    real = (target if target.is_absolute() else roots[0] / target).resolve()
    if not any(real == r.resolve() or r.resolve() in real.parents for r in roots):
        raise StudioError("err.run.out_outside", out=str(out), roots=", ".join(str(r) for r in roots))
    return real


def find_run(ref: str | Path, runs_dir: Path) -> Path:
    """Like resolve_run, but the folder must be a run (a status or config file in it)."""
    run = Run(locate(ref, runs_dir))
    if not run.is_run():
        raise StudioError("err.run.not_found", ref=ref, runs_dir=runs_dir)
    return run.path
