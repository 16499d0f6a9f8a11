"""What each kind of job is asked to do: one record per kind, written by whoever starts the job (the app's tabs)
into params.json and read back by the job's process (studio/cli/tasks.py). A field the record does not have is
refused on both sides, so a renamed field fails loudly instead of reading as a default. No torch, no gradio."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class MergeParams:
    ref: str                      # the run folder
    out: str = ""                 # '' = <run>/merged
    use_checkpoint: bool = False  # an unfinished run: its last checkpoint


@dataclass(frozen=True)
class CombineParams:
    refs: list[str]
    weights: list[float]
    method: str = "linear"
    density: float = 0.5


@dataclass(frozen=True)
class EvalParams:
    ref: str                      # a run id of the runs folder
    prompts: str | None = None    # a probe file ('' / None: the run's own probe questions)
    max_new_tokens: int = 64
    against: str = "base"         # base | parent
    dialogs: str | None = None    # multi-turn instead: None = no ('' = the persona's or the shipped dialogues)
    judge_url: str = ""           # judge the saved answers instead (an OpenAI-compatible endpoint)
    judge_model: str = ""
    judge_key_env: str = "STUDIO_JUDGE_KEY"


@dataclass(frozen=True)
class ExportParams:
    ref: str
    quant: str = "q8_0"
    out: str = ""


@dataclass(frozen=True)
class ServeParams:
    runs: list[str] = field(default_factory=list)
    port: int = 8000
    api_key: str = ""
    host: str = "127.0.0.1"
    model: str | None = None


@dataclass(frozen=True)
class DraftParams:
    data: str                     # the persona folder
    questions: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    model: str = "default"
    run: str = ""
    merged: bool = False
    examples: int = 4
    per_topic: int = 5
    max_new_tokens: int = 96


@dataclass(frozen=True)
class ImproveParams:
    ref: str                      # the finished run to improve (an improved descendant of it is continued)
    rounds: int = 1
    samples: int = 4
    general: int = 24
    votes: str = ""               # a votes or preference file whose pairs join ('' = none)
    max_steps: int | None = None
    max_new_tokens: int = 64


JobParams = MergeParams | CombineParams | EvalParams | ExportParams | ServeParams | DraftParams | ImproveParams
PARAMS_OF: dict[str, type] = {"merge": MergeParams, "combine": CombineParams, "eval": EvalParams,
                              "export": ExportParams, "serve": ServeParams, "draft": DraftParams,
                              "improve": ImproveParams}
KIND_OF = {cls: kind for kind, cls in PARAMS_OF.items()}


def to_file(params: JobParams) -> dict:
    return {"kind": KIND_OF[type(params)], **asdict(params)}


def from_file(data: dict) -> JobParams:
    """The record params.json holds (its 'kind' and 'runs_dir' aside); unknown fields raise TypeError."""
    kind = data.get("kind")
    if kind not in PARAMS_OF:
        raise TypeError(f"params.json names no job kind the studio has: {kind!r}")
    cls = PARAMS_OF[kind]
    given = {k: v for k, v in data.items() if k not in ("kind", "runs_dir", "foreground")}
    unknown = set(given) - {f.name for f in fields(cls)}
    if unknown:
        raise TypeError(f"{kind} params have no field {', '.join(sorted(unknown))}")
    return cls(**given)
