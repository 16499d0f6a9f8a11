"""Replay: the base model answers general prompts before training, and those answers join the training data at
a chosen share, so the character keeps answering general questions as the base did. The answers are made once
per (base model, template, prompts, length) and kept in the runs folder's cache and in the run's folder; a run
resumed on a different base than its answers came from is refused. Torch only inside `generate_answers`."""
from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from studio.core.errors import Stopped, StudioError
from studio.core.jsonl import lines_text, split_lines
from studio.core.storage import atomic_write_text
from studio.core.workspace import PACKAGE_ROOT
from studio.data.conversations import Conversation
from studio.eval.prompts import read_prompts
from studio.train.phases import counted

SHIPPED_PROMPTS = PACKAGE_ROOT / "data" / "replay" / "general_prompts.txt"
REPLAY_SYSTEMS = ("none", "persona")   # replay rows rendered without a system prompt, or with the persona's
MAX_NEW_TOKENS = 160                   # a general answer; answers cut at this length are never trained
TEXT_MAX_NEW_TOKENS = 64               # a base checkpoint's answer ends with its line, well within this
CACHE_DIR = ".replay-cache"            # under the runs folder
RUN_FILE = "replay.jsonl"              # in the run folder: the answers this run trained on


@dataclass
class ReplayAnswer:
    question: str
    answer: str
    stopped: bool   # ended on the end-of-turn id (only these are trained: a cut answer would teach not stopping)


def replay_count(persona_examples: int, share: float) -> int:
    """How many replay rows make `share` of the training rows (share 0.25 with 90 persona rows -> 30)."""
    if share <= 0 or persona_examples <= 0:
        return 0
    return round(persona_examples * share / (1 - share))


def prompts_path(configured: str) -> Path:
    return Path(configured) if configured else SHIPPED_PROMPTS


def read_replay_prompts(configured: str) -> list[str]:
    seen: dict[str, None] = {}
    for p in read_prompts(prompts_path(configured)):
        seen.setdefault(p.question.strip(), None)
    return list(seen)


def cache_key(model_hash: str, template: str, prompts: list[str], max_new_tokens: int) -> str:
    blob = json.dumps([model_hash, template, prompts, max_new_tokens], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def write_answers(path: Path, model_hash: str, answers: list[ReplayAnswer]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, lines_text([{"base_model_hash": model_hash}, *(asdict(a) for a in answers)]),
                      keep_backups=0)


def read_answers(path: Path, model_hash: str) -> list[ReplayAnswer] | None:
    """The answers in `path`, None when there is no usable file; refused when another base model made them."""
    try:
        lines = split_lines(path.read_text(encoding="utf-8"))
        made_by = json.loads(lines[0]).get("base_model_hash", "")
    except (OSError, IndexError, ValueError, TypeError, AttributeError):
        return None
    answers, bad = [], 0
    for line in lines[1:]:
        try:
            row = json.loads(line)
            if not (isinstance(row.get("question"), str) and isinstance(row.get("answer"), str)
                    and isinstance(row.get("stopped"), bool)):
                raise TypeError
            answers.append(ReplayAnswer(row["question"], row["answer"], row["stopped"]))
        except (ValueError, TypeError, AttributeError, RecursionError):
            bad += line.strip() != ""
    if bad:
        print(f"replay: skipped {bad} damaged line(s) of {path}", flush=True)
    if model_hash and made_by and made_by != model_hash:
        raise StudioError("err.replay.other_base", file=str(path))
    return answers


def generate_answers(base_path: str, template: str, prompts: list[str], max_new_tokens: int,
                     say: Callable[[str], None] = print, batch: int | None = None,
                     phase: Callable[[int, int], bool] | None = None) -> list[ReplayAnswer]:
    """The base model's greedy answers through `template`, with no system prompt (as a plain assistant); a base
    checkpoint that cannot chat is asked as text to continue ("Q: …\nA:"), its answer ending with its line."""
    from dataclasses import replace

    from studio.core.embedded_models import is_base_checkpoint
    from studio.format.render import stop_token_ids
    from studio.serve.batched import Batching, answer_all
    from studio.serve.chat import ChatEngine, GenSettings, Row
    as_text = is_base_checkpoint(base_path)
    engine = ChatEngine(base_path)
    try:
        contract = replace(engine.own_contract, template=template, system_prompt="", notes="",
                           stop_token_ids=stop_token_ids(template, engine.tokenizer))
        settings = GenSettings(max_new_tokens=min(max_new_tokens, TEXT_MAX_NEW_TOKENS) if as_text else max_new_tokens)
        out: dict[int, ReplayAnswer] = {}
        stopped = bool(phase and phase(0, len(prompts)))   # reports n/N; True: a stop was asked for
        asked = getattr(phase, "asked", None)

        class Asked:   # a stop asked for ends the batch in flight at its next token (a batch is up to 96 prompts)
            def is_set(self) -> bool:
                return bool(asked and asked())
        cancel = Asked()

        def keep(idx: list[int], replies: list) -> bool:
            nonlocal stopped
            if cancel.is_set():   # the batch was cut short: its replies are not answers
                stopped = True
                return True
            out.update({i: ReplayAnswer(prompts[i], r.text.strip(), r.stopped) for i, r in zip(idx, replies)})
            say(f"replay: the base model answered {len(out)}/{len(prompts)} general prompts")
            stopped = bool(phase and len(out) < len(prompts) and phase(len(out), len(prompts)))
            return stopped
        if not stopped:
            answer_all(engine, [Row(None, contract, [], q, completion=as_text) for q in prompts], settings,
                       Batching(rows=batch) if batch else Batching(), on_batch=keep, cancel=cancel)
        if stopped:
            raise Stopped
        return [out[i] for i in range(len(prompts))]
    finally:
        engine.release()


def answers_for_run(run_dir: Path, runs_dir: Path, base_path: str, model_hash: str, template: str,
                    configured_prompts: str, say: Callable[[str], None] = print,
                    phase: Callable[[int, int], bool] | None = None) -> list[ReplayAnswer]:
    """The run's own answers (resume), else the cache's, else freshly generated; kept in both places."""
    own = run_dir / RUN_FILE
    answers = read_answers(own, model_hash) if own.exists() else None
    if answers is None:
        prompts = read_replay_prompts(configured_prompts)
        cached = runs_dir / CACHE_DIR / f"{cache_key(model_hash, template, prompts, MAX_NEW_TOKENS)}.jsonl"
        answers = read_answers(cached, model_hash) if cached.exists() else None
        if answers is None:
            answers = generate_answers(base_path, template, prompts, MAX_NEW_TOKENS, say, phase=phase)
            write_answers(cached, model_hash, answers)
        write_answers(own, model_hash, answers)
    return answers


def replay_conversations(answers: list[ReplayAnswer], count: int, system: str, first_row: int,
                         seed: int = 0) -> list[Conversation]:
    """`count` stopped answers (drawn without repeats while they last, then again), numbered from first_row."""
    usable = [a for a in answers if a.stopped and a.answer]
    if not usable or count <= 0:
        return []
    rng = random.Random(seed)
    picked: list[ReplayAnswer] = []
    while len(picked) < count:
        batch = usable[:]
        rng.shuffle(batch)
        picked += batch[:count - len(picked)]
    return [Conversation(system, [(a.question, a.answer)], rows=[first_row + i]) for i, a in enumerate(picked)]


def persona_replay(persona, answers: list[ReplayAnswer], share: float, system: str, seed: int = 0,
                   system_prompt: str | None = None) -> list[Conversation]:
    """The replay rows for this persona at `share`, numbered after its table rows; `system` is none | persona
    (`system_prompt`, when given, overrides the persona's, as the run's config may)."""
    from studio.data.conversations import conversations_from_persona, system_with_context
    sys_text = "" if system == "none" else system_with_context(
        persona.system_prompt if system_prompt is None else system_prompt,
        persona.notes if persona.notes_in_prompt else "")
    count = replay_count(len(conversations_from_persona(persona)), share)
    return replay_conversations(answers, count, sys_text, first_row=len(persona.pairs) + 1, seed=seed)


def preview_conversations(source: str, template: str, share: float, system: str, persona, runs_dir: Path,
                          placeholder: str, configured_prompts: str = "") -> list[Conversation]:
    """The replay rows a run with these settings would train, for the Format tab: the cached answers of this base
    when some run made them already, else each prompt with `placeholder` (the base answers when training starts)."""
    from studio.core.models import resolve
    from studio.format.contract import model_hash
    if share <= 0:
        return []
    prompts = read_replay_prompts(configured_prompts)
    where = resolve(source)
    digest = model_hash(where) if Path(where).is_dir() else ""
    cached = runs_dir / CACHE_DIR / f"{cache_key(digest, template, prompts, MAX_NEW_TOKENS)}.jsonl"
    answers = (read_answers(cached, digest) if digest and cached.exists() else None) or [
        ReplayAnswer(q, placeholder, True) for q in prompts]
    return persona_replay(persona, answers, share, system)


def rows_for_run(run: Path, cfg, persona, where: str) -> list:
    """The replay conversations for this run (none when replay_share is 0): made before the model loads, so
    the base answers with its full weights and the run's memory is not held twice."""
    from studio.format.contract import model_hash
    if cfg.replay_share <= 0:
        return []
    answers = answers_for_run(run, run.parent, where, model_hash(where), cfg.template, cfg.replay_prompts,
                              say=lambda msg: print(msg, flush=True), phase=counted(run, "replay"))
    convs = persona_replay(persona, answers, cfg.replay_share, cfg.replay_system, cfg.seed, cfg.system_prompt)
    print(f"replay: {len(convs)} rows ({cfg.replay_share:.0%} of training rows) from "
          f"{sum(a.stopped for a in answers)}/{len(answers)} answers that ended on their own", flush=True)
    return convs
