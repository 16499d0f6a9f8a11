"""Improvement rounds: the character improves against its own rules, the user's votes on top. Each round samples
several replies to every prompt from the current run (the persona's questions and general ones from the shipped pool,
so it learns to stay in character where its data never asked), pairs the best by the persona's rules against each
worse one, lets the user's own pairs win on the prompts they voted on, trains a DPO child from the current run,
evaluates it against its parent on the held-out probes and keeps it only if no guard failed. A failed guard ends the
rounds and says which. Every round is a run of its own (SFT -> round 1 -> round 2), as any preference run is."""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from studio.core.errors import StudioError
from studio.data.preferences import Preference, read_preference_file, write_rows
from studio.data.rules import PersonaRules, check, rule_pairs
from studio.data.style import sentences
from studio.eval.results import EvalResults
from studio.jobs.folders import Run, resolve_run

TOLERANCE = 0.05    # how much worse than its parent a kept round may be on a guard
MARKER_SPAM = 1.5   # style endings per sentence above this (and above the parent's) is rule hacking


@dataclass
class ImproveSettings:
    rounds: int = 1
    samples: int = 4              # replies sampled to every prompt
    temperature: float = 0.9
    max_new_tokens: int = 64
    general: int = 24             # questions from the shipped general pool, each round (0: the persona's only)
    votes: str = ""               # a votes or preference file: its pairs join, and win on their prompts
    max_steps: int | None = None  # DPO steps per round (None: the method's default)
    seed: int = 0


@dataclass
class Round:
    index: int
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
        if prompt not in voted:
            out += [Preference(prompt, chosen=c, rejected=r, source="rules") for c, r in rule_pairs(replies, rules)]
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


def sample(run: Run, prompts: list[str], s: ImproveSettings, round_seed: int,
           say: Callable[[str], None]) -> dict[str, list[tuple[str, bool]]]:
    """`s.samples` replies to every prompt from the run's adapter, in batches (studio/serve/batched.py)."""
    from studio.format.contract import Contract
    from studio.serve.batched import generate_many
    from studio.serve.chat import ChatEngine, GenSettings, Row
    contract = Contract.load(run.adapter)
    engine = ChatEngine(contract.base_model_path)
    try:
        engine.add_adapter("current", run.adapter)
        done = [0]

        def progress(idx: list[int], replies: list) -> None:
            done[0] += len(idx)
            say(f"sampling {done[0]}/{len(prompts) * max(s.samples, 1)} replies")
        got = generate_many(engine, [Row("current", contract, [], q) for q in prompts],
                            GenSettings(temperature=s.temperature, top_p=0.95, max_new_tokens=s.max_new_tokens,
                                        seed=round_seed), samples=s.samples, on_batch=progress)
    finally:
        engine.release()
    return {q: [(r.text, r.stopped) for r in replies] for q, replies in zip(prompts, got)}


def improve(start: str, runs_dir: Path, s: ImproveSettings, say: Callable[[str], None] = print) -> list[Round]:
    """Rounds from run `start`; returns them (the last kept child is the improved character)."""
    from studio.data.persona_store import load_persona
    from studio.eval.evaluate import evaluate
    from studio.eval.prompts import read_prompts
    from studio.jobs.launcher import foreground_job, wait
    from studio.jobs.status import State
    from studio.train.config import TrainConfig
    from studio.train.launch import start_run
    from studio.train.recipes import preference_recipe
    from studio.train.replay import SHIPPED_PROMPTS

    current = resolve_run(start, runs_dir, inside=True)
    if not current.has_adapter():
        raise StudioError("err.prefs.parent_unfinished", run=current.id, state="-")
    persona = load_persona(current.data)
    rules = persona.rules_of()
    votes = read_preference_file(s.votes) if s.votes else []
    pool = [p.question for p in read_prompts(SHIPPED_PROMPTS)]
    saved = EvalResults.load(current.results)
    sft_freeform = saved.tuned.get("freeform_score") if saved is not None and saved.complete else None
    rounds: list[Round] = []
    for i in range(1, s.rounds + 1):
        r = Round(i, current.id)
        rounds.append(r)
        prompts = prompts_for([p.question for p in persona.pairs], pool, s.general, s.seed + i)
        say(f"round {i}/{s.rounds}: sampling {s.samples} replies to {len(prompts)} prompts from {current.id}")
        with foreground_job(runs_dir, "improve", f"round{i}") as job:   # its folder keeps the round's pairs
            candidates = sample(current, prompts, s, s.seed + i, say)
            pairs = build_pairs(candidates, rules, votes)
            pairs_file = job / "pairs.jsonl"
            write_rows(pairs, pairs_file)
        r.pairs, r.from_votes = len(pairs), sum(p.source != "rules" for p in pairs)
        if not pairs:
            r.failed = ["no pairs: the rules cannot tell this run's replies apart"]
            say(f"round {i}: {r.failed[0]}")
            break
        say(f"round {i}: {r.pairs} pairs ({r.from_votes} from your votes); training a DPO child")
        cfg = replace(preference_recipe(TrainConfig.load(current.config), "dpo"), parent_run=current.id,
                      preferences=str(pairs_file))
        if s.max_steps:
            cfg.max_steps = s.max_steps
        child = Run(start_run(cfg, runs_dir))
        r.child = child.id
        status = wait(child.path)
        if status.state != State.FINISHED:
            r.failed = [f"training ended {getattr(status.state, 'value', status.state)}: {status.error or '-'}"]
            break
        say(f"round {i}: evaluating {child.id} against {current.id}")
        with foreground_job(runs_dir, "eval", child.id):
            if sft_freeform is None:
                first = evaluate(current.path, None, runs_dir, max_new_tokens=s.max_new_tokens)
                sft_freeform = first.tuned.get("freeform_score")
            res = evaluate(child.path, None, runs_dir, max_new_tokens=s.max_new_tokens, against="parent")
        r.failed = guards(res, rules, sft_freeform)
        r.kept = not r.failed
        if not r.kept:
            say(f"round {i}: {child.id} is not kept: " + "; ".join(r.failed))
            break
        say(f"round {i}: kept {child.id}")
        current = child
    return rounds
