"""Improvement rounds: the character improves against its own rules, the user's votes on top. Each round samples
several replies to every prompt from the current run (the persona's questions and general ones from the shipped pool,
so it learns to stay in character where its data never asked), pairs the best by the persona's rules against each
worse one, lets the user's own pairs win on the prompts they voted on, trains a DPO child from the current run,
evaluates it against its parent on the held-out probes and keeps it only if no guard failed. A failed guard ends the
rounds and says which. Every round is a run of its own (SFT -> round 1 -> round 2), as any preference run is."""
from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from studio.core.errors import Stopped, StudioError
from studio.core.storage import atomic_write_text
from studio.data.preferences import Preference, read_preference_file, write_rows
from studio.data.rules import PersonaRules, check, pass_rates, rule_pairs
from studio.data.style import sentences
from studio.eval.results import EvalResults
from studio.jobs.folders import JobFolder, Run, resolve_run
from studio.locale import T, Text

Say = Callable[[float, "Text | None"], None]   # (fraction of all the rounds, message; None: only a stop check)

TOLERANCE = 0.05    # how much worse than its parent a kept round may be on a guard
MARKER_SPAM = 1.5   # style endings per sentence above this (and above the parent's) is rule hacking
# what a round's parts cost on the default model, measured on a quiet 2-core CPU (bench/bench_improve.py, the sample
# persona, default settings, 2026-12-08): 668 sampled replies of up to 64 tokens in 133 s, 30 DPO steps in 147 s,
# the evaluation against the parent in 102 s (model loads included). No GPU figures: the estimate says so.
CPU_RATES = {"reply_s": 0.2, "dpo_step_s": 4.9, "eval_s": 100.0}
MAX_ROUNDS, MAX_SAMPLES, MAX_GENERAL = 10, 16, 100
HELD_OUT_FILE = "heldout_questions.txt"   # data/eval: 30 everyday questions, for a run with no probe file


@dataclass
class ImproveSettings:
    rounds: int = 1
    samples: int = 4              # replies sampled to every prompt
    temperature: float = 0.9
    max_new_tokens: int = 64
    general: int = 24             # questions from the shipped general pool, each round (0: the persona's only)
    votes: str = ""               # a votes or preference file: its pairs join, and win on their prompts
    max_steps: int | None = None  # DPO steps per round (None: the method's default)
    learning_rate: float | None = 5e-5   # DPO learning rate a round (measured on the default model: the DPO
    #                                      method's 5e-4 cost 0.23 of free-form knowledge in one round; None: 5e-4)
    seed: int = 0

    def check(self) -> None:
        """Refuse numbers a round cannot use (the panel's and the command line's alike)."""
        ok = (1 <= self.rounds <= MAX_ROUNDS and 2 <= self.samples <= MAX_SAMPLES
              and 0 <= self.general <= MAX_GENERAL and 1 <= self.max_new_tokens <= 512
              and (self.max_steps is None or 1 <= self.max_steps <= 10_000)
              and (self.learning_rate is None or 0 < self.learning_rate <= 1e-2))
        if not ok:
            raise StudioError("err.improve.rounds", max=MAX_ROUNDS, samples=MAX_SAMPLES, general=MAX_GENERAL)


@dataclass
class Round:
    index: int                    # in the lineage: the SFT run's first improvement is round 1
    parent: str
    child: str = ""
    pairs: int = 0
    from_votes: int = 0
    kept: bool = False
    failed: list[str] = field(default_factory=list)   # the guards it failed


def prompts_for(questions: list[str], pool: list[str], general: int, seed: int) -> list[str]:
    """The persona's questions and `general` questions drawn from the pool (a new draw each round), once each."""
    drawn = random.Random(seed).sample(pool, min(general, len(pool))) if general > 0 else []
    return list(dict.fromkeys(q.strip() for q in [*questions, *drawn] if q.strip()))


def build_pairs(candidates: dict[str, list[tuple[str, bool]]], rules: PersonaRules,
                votes: list[Preference]) -> list[Preference]:
    """Rule pairs for every prompt the user did not vote on, and the user's own pairs (which win on theirs)."""
    voted = {p.prompt for p in votes if p.paired}
    out = [p for p in votes if p.paired]
    for prompt, replies in candidates.items():
        if prompt not in voted:   # an empty reply cannot be a side of a pair (the preference file refuses it)
            out += [Preference(prompt, chosen=c, rejected=r, source="rules") for c, r in rule_pairs(replies, rules)
                    if c.strip() and r.strip()]
    return out


def kept_share(texts: list[str], stopped: list[bool], rules: PersonaRules) -> float | None:
    """The share of replies that keep every active rule."""
    checks = [all(check(t, s, rules).values()) for t, s in zip(texts, stopped)]
    return sum(checks) / len(checks) if checks else None


def markers_per_sentence(texts: list[str], rules: PersonaRules) -> float:
    sents = [s for t in texts for s in sentences(t)]
    return sum(s.count(e) for s in sents for e in rules.endings) / len(sents) if sents else 0.0


def guards(res: EvalResults, rules: PersonaRules, sft_freeform: float | None) -> list[str]:
    """The guards a child (the results' 'tuned' column, against its parent in 'base') fails: rules kept, stopping,
    variety (distinct-2), copying the system prompt, marker spam, the length band, free-form knowledge against the
    first SFT run. Each failure is named as '<guard>: child <value> vs <reference>'."""
    failed = []
    b, t = res.base, res.tuned

    def worse(name: str, key: str, lower_is_worse: bool = True) -> None:
        if b.get(key) is None or t.get(key) is None:
            return
        if (t[key] < b[key] - TOLERANCE) if lower_is_worse else (t[key] > b[key] + TOLERANCE):
            failed.append(f"{name}: child {t[key]:.2f} vs parent {b[key]:.2f}")
    base_texts = [a.base for a in res.answers]
    tuned_texts = [a.tuned for a in res.answers]
    rules_b = kept_share(base_texts, [a.base_stopped for a in res.answers], rules)
    rules_t = kept_share(tuned_texts, [a.tuned_stopped for a in res.answers], rules)
    if rules_b is not None and rules_t is not None and rules_t < rules_b - TOLERANCE:
        failed.append(f"rules: child {rules_t:.2f} vs parent {rules_b:.2f}")
    worse("stop", "stop_rate")
    worse("distinct-2", "distinct_2")
    worse("system prompt copied", "system_overlap", lower_is_worse=False)
    spam_b, spam_t = markers_per_sentence(base_texts, rules), markers_per_sentence(tuned_texts, rules)
    if spam_t > MARKER_SPAM and spam_t > spam_b + TOLERANCE:
        failed.append(f"marker spam: child {spam_t:.2f} endings a sentence vs parent {spam_b:.2f}")
    lengths = sorted(len(x) for x in tuned_texts)
    if lengths and rules.max_chars and not rules.min_chars <= lengths[len(lengths) // 2] <= rules.max_chars:
        failed.append(f"length: child median {lengths[len(lengths) // 2]} outside {rules.min_chars}-"
                      f"{rules.max_chars}")
    free = t.get("freeform_score")
    if sft_freeform is not None and free is not None and free < sft_freeform - TOLERANCE:
        failed.append(f"free-form knowledge: child {free:.2f} vs first run {sft_freeform:.2f}")
    return failed


def preflight(rules: PersonaRules, answers: list[str]) -> None:
    """Refuse before anything is sampled: rules that cannot tell replies apart (none switched on), or a rule none of
    the persona's own answers keeps (the rounds would train towards what the persona itself never does)."""
    if not rules.active():
        raise StudioError("err.improve.no_rules")
    rates = pass_rates([(a, True) for a in answers if a.strip()], rules)
    never = [r for r, rate in rates.items() if rate == 0.0]
    if never:
        raise StudioError("err.improve.rule_unkept", rule=T(f"rule.{never[0]}"))


def read_record(run: Run) -> dict:
    """A round's record (kept or not, the guards it failed); {} for a run no round made."""
    try:
        data = json.loads(run.improvement.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def last_kept(run: Run, runs_dir: Path) -> Run:
    """The latest kept round descended from `run` (itself when none): a second `improve` continues from there, so
    rounds stopped or refused before are not repeated from the start."""
    from studio.jobs.runs import list_runs
    records = [(r.path.name, read_record(Run(r.path))) for r in list_runs(runs_dir)]
    current = run
    while True:
        kids = sorted(name for name, rec in records if rec.get("kept") is True and rec.get("parent") == current.id)
        if not kids:
            return current
        current = Run(run.path.parent / kids[-1])


def sample(run: Run, prompts: list[str], s: ImproveSettings, round_seed: int, say: Callable[[int, int], None],
           stop: threading.Event | None = None) -> dict[str, list[tuple[str, bool]]]:
    """`s.samples` replies to every prompt from the run's adapter, in batches (studio/serve/batched.py)."""
    from studio.format.contract import Contract
    from studio.serve.batched import generate_many
    from studio.serve.chat import ChatEngine, GenSettings, Row
    contract = Contract.load(run.adapter)
    engine = ChatEngine(contract.base_model_path)
    total = len(prompts) * max(s.samples, 1)
    try:
        engine.add_adapter("current", run.adapter)
        done = [0]

        def progress(idx: list[int], replies: list) -> bool:
            done[0] += len(idx)
            say(done[0], total)
            return bool(stop and stop.is_set())
        got = generate_many(engine, [Row("current", contract, [], q) for q in prompts],
                            GenSettings(temperature=s.temperature, top_p=0.95, max_new_tokens=s.max_new_tokens,
                                        seed=round_seed), samples=s.samples, on_batch=progress, cancel=stop)
    finally:
        engine.release()
    if stop is not None and stop.is_set():
        raise Stopped(T("improve.p.stopped_sampling"))
    return {q: [(r.text, r.stopped) for r in replies] for q, replies in zip(prompts, got)}


def follow(child: Run, say: Callable[[float, Text | None], None], stop: threading.Event | None) -> str:
    """Wait for the round's training run, reporting its steps; a stop asks the run to stop (it saves) and waits for
    it. Returns the run's last state."""
    from studio.jobs.launcher import request_stop
    from studio.jobs.liveness import refresh
    from studio.jobs.status import ACTIVE
    last = None
    while True:
        st = refresh(child.path)
        if st.state not in ACTIVE:
            return str(getattr(st.state, "value", st.state))
        if stop is not None and stop.is_set():
            try:
                request_stop(child.path)
            except StudioError:
                pass
            while refresh(child.path).state in ACTIVE:
                time.sleep(0.5)
            raise Stopped(T("improve.p.stopped_training", run=child.id))
        if (st.step, st.total) != last:
            last = (st.step, st.total)
            say((st.step or 0) / max(st.total or 1, 1), T("improve.p.training", run=child.id, step=st.step or 0,
                                                        total=st.total or "?"))
        time.sleep(1.0)


@contextmanager
def phase(runs_dir: Path, job: Path | None, kind: str, label: str) -> Iterator[Path]:
    """Inside an improvement job the job is the device's holder already; on the command line each phase registers
    a foreground job of its own (so the app sees the device busy), as `eval` and `draft` do."""
    if job is not None:
        yield job
        return
    from studio.jobs.launcher import foreground_job
    with foreground_job(runs_dir, kind, label) as folder:
        yield folder


def held_out(run: Run, say: Say) -> Path:
    """The questions every round is evaluated on: the run's probe file, else the shipped held-out questions (said)."""
    from studio.eval.evaluate import EVAL_DATA, default_prompts
    try:
        return default_prompts(run.path)
    except StudioError:
        path = EVAL_DATA / HELD_OUT_FILE
        say(0.0, T("improve.p.no_probes", run=run.id, file=HELD_OUT_FILE))
        return path


def _save(job: Path | None, rounds: list[Round]) -> None:
    if job is not None:
        atomic_write_text(JobFolder(job).rounds, json.dumps([asdict(r) for r in rounds], ensure_ascii=False,
                                                            indent=1), keep_backups=0)


def improve(start: str, runs_dir: Path, s: ImproveSettings, say: Say | None = None, job: Path | None = None,
            stop: threading.Event | None = None) -> list[Round]:
    """Rounds from run `start` (or from its latest kept round); returns them (the last kept child is the improved
    character). `job`: the improvement job's folder when the app started it (its rounds.json is kept up to date);
    `stop`: set to stop at the next batch, training step or evaluation report."""
    from studio.data.persona_store import load_persona
    from studio.eval.evaluate import evaluate
    from studio.eval.prompts import read_prompts
    from studio.jobs.status import read_status
    from studio.train.config import TrainConfig
    from studio.train.launch import start_run
    from studio.train.recipes import preference_recipe
    from studio.train.replay import SHIPPED_PROMPTS

    say = say or (lambda f, m: None)
    s.check()
    first = resolve_run(start, runs_dir, inside=True)
    if not first.has_adapter():
        raise StudioError("err.prefs.parent_unfinished", run=first.id, state="-")
    current = last_kept(first, runs_dir)
    if current.id != first.id:
        say(0.0, T("improve.p.continuing", run=current.id, start=first.id))
    persona = load_persona(current.data)
    rules = persona.rules_of()
    preflight(rules, [p.answer for p in persona.pairs])
    votes = read_preference_file(s.votes) if s.votes else []
    pool = [p.question for p in read_prompts(SHIPPED_PROMPTS)]
    probes = held_out(first, say)
    saved = EvalResults.load(first.results)
    sft_freeform = saved.tuned.get("freeform_score") if saved is not None and saved.complete else None
    rounds: list[Round] = []
    lineage = int(read_record(current).get("round") or 0)
    for n in range(s.rounds):
        def at(part: float, upto: float, _n: int = n) -> float:   # a phase's progress as a share of all rounds
            return (_n + part * upto) / s.rounds
        r = Round(lineage + n + 1, current.id)
        rounds.append(r)
        prompts = prompts_for([p.question for p in persona.pairs], pool, s.general, s.seed + r.index)
        say(at(0, 0), T("improve.p.round", i=r.index, n=n + 1, of=s.rounds, prompts=len(prompts), k=s.samples,
                        run=current.id))
        with phase(runs_dir, job, "improve", f"round{r.index}") as folder:
            candidates = sample(current, prompts, s, s.seed + r.index,
                                lambda d, t: say(at(d / max(t, 1), 0.4), T("improve.p.sampling", done=d, total=t)),
                                stop)
            pairs = build_pairs(candidates, rules, votes)
            pairs_file = folder / f"round{r.index}-pairs.jsonl"
            write_rows(pairs, pairs_file)
        r.pairs, r.from_votes = len(pairs), sum(p.source != "rules" for p in pairs)
        if not pairs:
            r.failed = ["no pairs: the rules cannot tell this run's replies apart"]
            _save(job, rounds)
            break
        say(at(1, 0.4), T("improve.p.pairs", pairs=r.pairs, votes=r.from_votes))
        cfg = replace(preference_recipe(TrainConfig.load(current.config), "dpo"), parent_run=current.id,
                      preferences=str(pairs_file))
        if s.max_steps:
            cfg.max_steps = s.max_steps
        if s.learning_rate:
            cfg.learning_rate = s.learning_rate
        skipped: list[Text] = []   # votes left out (another persona's template, ratings): counted by reason
        try:
            child = Run(start_run(cfg, runs_dir, warnings=skipped))
        except StudioError as e:   # too few usable pairs, say: the round ends saying why, the rounds before stay
            r.failed = [e.render("en")]
            _save(job, rounds)
            say(at(1, 0.4), T("improve.p.not_started", why=e))
            break
        r.child = child.id
        for w in skipped:
            say(at(1, 0.4), w)
        _save(job, rounds)
        state = follow(child, lambda f, m: say(at(0.4 + 0.4 * f, 1), m), stop)
        if state != "finished":
            r.failed = [f"training ended {state}: {read_status(child.path).error or '-'}"]
            _save(job, rounds)
            break
        say(at(0.8, 1), T("improve.p.evaluating", run=child.id, parent=current.id))
        with phase(runs_dir, job, "eval", child.id):
            def report(f: float, m, _at=at, _child: str = child.id) -> None:
                if stop is not None and stop.is_set():
                    raise Stopped(T("improve.p.stopped_eval", run=_child))
                say(_at(0.8 + 0.2 * f, 1), m)
            if sft_freeform is None:
                sft_freeform = evaluate(first.path, probes, runs_dir, max_new_tokens=s.max_new_tokens,
                                        progress=report).tuned.get("freeform_score")
            res = evaluate(child.path, probes, runs_dir, max_new_tokens=s.max_new_tokens, against="parent",
                           progress=report)
        r.failed = guards(res, rules, sft_freeform)
        r.kept = not r.failed
        atomic_write_text(child.improvement, json.dumps({"round": r.index, "parent": current.id, "kept": r.kept,
                                                         "failed": r.failed, "pairs": r.pairs,
                                                         "from_votes": r.from_votes}, ensure_ascii=False, indent=1),
                          keep_backups=0)
        _save(job, rounds)
        say(at(1, 1), T("improve.p.kept" if r.kept else "improve.p.not_kept", run=child.id,
                        why="; ".join(r.failed)))
        if not r.kept:
            break
        current = child
    return rounds


def estimate_s(questions: int, s: ImproveSettings, dpo_steps: int) -> float:
    """Seconds a round of the default model is expected to take on a 2-core CPU: sampling, the DPO steps and the
    evaluation against the parent, at CPU_RATES."""
    replies = (questions + max(s.general, 0)) * max(s.samples, 1)
    sampling = replies * CPU_RATES["reply_s"] * s.max_new_tokens / 64
    return sampling + (s.max_steps or dpo_steps) * CPU_RATES["dpo_step_s"] + CPU_RATES["eval_s"]
