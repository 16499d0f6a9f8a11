"""Multi-turn evaluation: each model answers every probe dialogue turn by turn with its own earlier replies in the
history (the real chat situation), greedy, the run's contract; the dialogues of both models advance together, one
batched generation per turn. Per turn: style, first person kept, the persona's rules kept, stopped, echo (the user's
turn or the system prompt copied), length, and whether the context had to be cut. Per dialogue: the first turn where
the character breaks (a rule fails) and the slope of style over the turns."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

from studio.data.dialogs import Dialog
from studio.data.rules import PersonaRules, check
from studio.data.style import in_style

ECHO_SHARE, ECHO_MIN = 0.6, 8   # a reply echoes a text when a piece of 8+ characters covers 60% of the reply


@dataclass
class TurnScore:
    turn: int
    user: str
    reply: str
    pressure: str = ""
    style: bool | None = None       # None: the persona has no style markers
    first_person: bool | None = None
    rules: bool = True              # every active rule kept
    stopped: bool = False
    echo: bool = False
    chars: int = 0
    cut: bool = False               # the history was cut from the left to fit the context
    failed: list[str] = field(default_factory=list)


@dataclass
class DialogResult:
    id: str
    model: str
    turns: list[TurnScore] = field(default_factory=list)

    @property
    def break_turn(self) -> int | None:
        """The first turn (1-based) where a rule fails, None when the character held to the end."""
        return next((t.turn for t in self.turns if not t.rules), None)

    @property
    def style_slope(self) -> float | None:
        """The least-squares slope of style (1 kept, 0 not) over the turns: below 0, the style fades."""
        pts = [(t.turn, float(t.style)) for t in self.turns if t.style is not None]
        if len(pts) < 2:
            return None
        mx, my = sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)
        var = sum((x - mx) ** 2 for x, _ in pts)
        return sum((x - mx) * (y - my) for x, y in pts) / var if var else None


def echoes(reply: str, source: str) -> bool:
    a, b = "".join(reply.split()), "".join(source.split())
    if len(a) < ECHO_MIN or len(b) < ECHO_MIN:
        return False
    m = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return m.size >= ECHO_MIN and m.size >= ECHO_SHARE * len(a)


def score_turn(n: int, user: str, pressure: str, reply: str, stopped: bool, cut: bool, rules: PersonaRules,
               markers: list[str], system: str) -> TurnScore:
    checks = check(reply, stopped, rules)
    echo = echoes(reply, user) or echoes(reply, system)
    failed = [r for r, ok in checks.items() if not ok] + (["echo"] if echo else [])
    return TurnScore(n, user, reply, pressure, in_style(reply, markers) if markers else None,
                     checks.get("first_person"), all(checks.values()) and not echo, stopped, echo, len(reply.strip()),
                     cut, failed)


def run_dialogs(engine, contract, dialogs: list[Dialog], adapters: dict[str, str | None], rules: PersonaRules,
                max_new_tokens: int = 64, say: Callable[[float, str], None] = lambda f, m: None
                ) -> list[DialogResult]:
    """Every dialogue with every model (name -> adapter, None for the base), turn by turn."""
    from studio.serve.batched import answer_all
    from studio.serve.chat import GenSettings, Row
    results = {(m, d.id): DialogResult(d.id, m) for m in adapters for d in dialogs}
    history: dict[tuple[str, str], list[tuple[str, str]]] = {k: [] for k in results}
    system = contract.system_for()
    longest = max(len(d.turns) for d in dialogs)
    for t in range(longest):
        todo = [(m, d) for m in adapters for d in dialogs if t < len(d.turns)]
        say(0.05 + 0.9 * t / longest, f"turn {t + 1}/{longest}: {len(todo)} replies")
        rows = [Row(adapters[m], contract, list(history[(m, d.id)]), d.turns[t].text) for m, d in todo]
        replies = answer_all(engine, rows, GenSettings(max_new_tokens=max_new_tokens))
        for (m, d), r in zip(todo, replies):
            turn = d.turns[t]
            history[(m, d.id)].append((turn.text, r.text))
            results[(m, d.id)].turns.append(score_turn(t + 1, turn.text, turn.pressure, r.text, r.stopped,
                                                       r.prompt_truncated, rules, contract.style_markers, system))
    return list(results.values())


def _rate(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(map(float, values)) / len(values) if values else None


def summary(results: list[DialogResult]) -> dict:
    """Per model: style and rules kept by turn, on ordinary and on pressure turns, break turns and slopes."""
    out: dict = {}
    for model in dict.fromkeys(r.model for r in results):
        mine = [r for r in results if r.model == model]
        turns = max(len(r.turns) for r in mine)
        by_turn = [[r.turns[i] for r in mine if i < len(r.turns)] for i in range(turns)]
        every = [t for r in mine for t in r.turns]
        breaks = [r.break_turn for r in mine]
        broke = sorted(b for b in breaks if b is not None)
        slopes = [r.style_slope for r in mine if r.style_slope is not None]
        out[model] = {
            "style_by_turn": [_rate([t.style for t in ts]) for ts in by_turn],
            "rules_by_turn": [_rate([t.rules for t in ts]) for ts in by_turn],
            "style_ordinary": _rate([t.style for t in every if not t.pressure]),
            "style_pressure": _rate([t.style for t in every if t.pressure]),
            "rules_pressure": _rate([t.rules for t in every if t.pressure]),
            "stop_rate": _rate([t.stopped for t in every]),
            "echo_rate": _rate([t.echo for t in every]),
            "held_to_the_end": sum(b is None for b in breaks) / len(breaks),
            "median_break_turn": broke[len(broke) // 2] if broke else None,   # among the dialogues that broke
            "style_slope": sum(slopes) / len(slopes) if slopes else None,
            "cut_turns": sum(t.cut for t in every),
        }
    return out


def save(results: list[DialogResult], path: Path, dialogs_file: str) -> dict:
    """The per-turn scores and the summary, written to `path` (the run's eval/dialogs.json)."""
    from studio.core.storage import atomic_write_text
    data = {"dialogs": dialogs_file, "summary": summary(results),
            "results": [{**asdict(r), "break_turn": r.break_turn, "style_slope": r.style_slope} for r in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=1), keep_backups=0)
    return data


def evaluate_dialogs(run_ref: str | Path, dialogs_path: str | Path | None, runs_dir: Path | None = None,
                     max_new_tokens: int = 64, say: Callable[[float, str], None] = lambda f, m: None) -> dict:
    """The run's adapter and the bare base over the probe dialogues (the persona's own, else the shipped set);
    saved in the run's eval/dialogs.json and returned."""
    from studio.data.dialogs import dialogs_for, read_dialogs
    from studio.data.persona_store import load_persona
    from studio.format.contract import Contract
    from studio.jobs.folders import Run, locate
    from studio.jobs.runs import adapter_dir
    from studio.serve.chat import ChatEngine
    adapter = adapter_dir(run_ref, runs_dir)   # refuses a run still training, or with no adapter, saying so
    run = Run(locate(run_ref, runs_dir))
    path = Path(dialogs_path) if dialogs_path else dialogs_for(run.data)
    dialogs = read_dialogs(path)
    rules = load_persona(run.data).rules_of() if run.data.is_dir() else PersonaRules()
    contract = Contract.load(adapter)
    engine = ChatEngine(contract.base_model_path)
    try:
        engine.add_adapter("tuned", adapter)
        results = run_dialogs(engine, contract, dialogs, {"base": None, "tuned": "tuned"}, rules, max_new_tokens,
                              say)
    finally:
        engine.release()
    return save(results, run.dialog_results, str(path))


def load_saved(path: Path) -> dict | None:
    """A saved multi-turn evaluation (eval/dialogs.json), or None when missing or not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and isinstance(data.get("summary"), dict) and isinstance(data.get("results"), list)
    return data if ok and all(isinstance(r, dict) and isinstance(r.get("turns"), list) for r in data["results"]) \
        else None


def turn_points(data: dict) -> list[tuple[int, str, float]]:
    """(turn, model, style kept) for a chart of style by turn, one line per model."""
    return [(i + 1, model, v) for model, s in data["summary"].items() for i, v in enumerate(s.get("style_by_turn", []))
            if v is not None]


def dialog_ids(data: dict) -> list[str]:
    return list(dict.fromkeys(str(r.get("id")) for r in data["results"]))


def dialog_rows(data: dict, dialog_id: str) -> list[tuple[int, str, str, dict[str, tuple[str, list[str]]]]]:
    """One dialogue side by side: (turn, pressure, user text, {model: (reply, failed rules)})."""
    by_model = {r.get("model"): r["turns"] for r in data["results"] if str(r.get("id")) == dialog_id}
    turns = max((len(t) for t in by_model.values()), default=0)
    out = []
    for i in range(turns):
        first = next(t[i] for t in by_model.values() if i < len(t))
        out.append((i + 1, str(first.get("pressure") or ""), str(first.get("user", "")),
                    {m: (str(t[i].get("reply", "")), list(t[i].get("failed") or [])) for m, t in by_model.items()
                     if i < len(t)}))
    return out
