"""Evaluate a run: the base and the tuned model answer the held-out probe questions (greedy, same settings, the
run's contract), then persona metrics, a knowledge probe (multiple choice by log-likelihood, English and Japanese)
and perplexities. Answers are cached per batch, so an interrupted evaluation resumes where it stopped."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from studio.core.embedded_models import is_base_checkpoint
from studio.core.errors import StudioError
from studio.core.jsonl import append_jsonl, read_jsonl
from studio.core.storage import atomic_write_text
from studio.core.workspace import PACKAGE_ROOT
from studio.data.conversations import Conversation
from studio.data.persona import PROBE_FILE
from studio.eval import freeform as ff
from studio.eval import metrics as m
from studio.eval.prompts import Prompt, read_prompts
from studio.eval.registry import Replies, score_replies
from studio.eval.results import MODELS, Answered, EvalResults, FreeformAnswer
from studio.format.contract import Contract
from studio.format.render import IGNORE, render
from studio.jobs.folders import Run
from studio.jobs.runs import adapter_dir
from studio.locale import T, loading
from studio.serve.batched import answer_all
from studio.serve.chat import ChatEngine, GenSettings, Row

EVAL_DATA = PACKAGE_ROOT / "data" / "eval"
FREEFORM_TOKENS = 48   # enough to name the answer; the probe asks for facts, not essays


def default_prompts(run: Path) -> Path:
    cfg = Run(run).settings()
    for folder in (Path(str(cfg.get("data") or "")), Run(run).data):
        if (folder / PROBE_FILE).exists():
            return folder / PROBE_FILE
    raise StudioError("err.no_probe", run=run.name)


def _answers(engine: ChatEngine, contract: Contract, prompts: list[Prompt], settings: GenSettings, cache: Path,
             progress: Callable[[float, str], None], span: tuple[float, float] = (0.0, 0.55),
             adapters: dict[str, str | None] | None = None, as_text: frozenset[str] = frozenset()
             ) -> dict[str, list[dict]]:
    """Each model's answers (kept in `cache`, so an interrupted evaluation resumes); models in `as_text` are asked
    as text to continue (a base checkpoint that cannot chat)."""
    adapters = adapters or {"base": None, "tuned": "tuned"}
    done: dict[tuple[str, str], dict] = {}
    for a in read_jsonl(cache):  # a torn line from an interrupted run is skipped
        if isinstance(a.get("model"), str) and isinstance(a.get("question"), str):
            done[(a["model"], a["question"])] = a
    total = len(prompts) * 2
    todo = [(model, p) for model in MODELS for p in prompts if (model, p.question) not in done]
    rows = [Row(adapters[model], contract, [], p.question, completion=model in as_text) for model, p in todo]
    progress(span[0] + len(done) / total * (span[1] - span[0]),
             T("eval.p.answering", todo=len(rows)))

    def keep(idx: list[int], replies: list) -> None:   # base and tuned rows share batches (one step, both models)
        new = [{"model": todo[i][0], "question": todo[i][1].question, "answer": r.text, "stopped": r.stopped,
                "new_tokens": r.new_tokens} for i, r in zip(idx, replies)]
        done.update({(a["model"], a["question"]): a for a in new})
        append_jsonl(cache, new)
        progress(span[0] + len(done) / total * (span[1] - span[0]), T("eval.p.answered", done=len(done),
                                                                        total=total))
    if rows:
        answer_all(engine, rows, settings, on_batch=keep)
    return {model: [done[(model, p.question)] for p in prompts] for model in MODELS}


def _nll(model, ids: list[int], labels: list[int], skip_last: bool = False) -> tuple[float, int]:
    """Summed negative log-likelihood of the labelled tokens (optionally not the final end-of-turn). Only the
    positions that predict a labelled token go through the output layer (`logits_to_keep`)."""
    import torch
    targets = labels[1:]
    pos = [i for i, t in enumerate(targets) if t != IGNORE]
    if skip_last and len(pos) > 1:
        pos = pos[:-1]
    if not pos:
        return 0.0, 0
    x = torch.tensor([ids], device=model.device)
    keep = torch.tensor(pos, device=model.device)
    with torch.no_grad():
        logits = model(x, logits_to_keep=keep).logits[0]
    logp = torch.log_softmax(logits.float(), dim=-1)
    return float(-sum(logp[j, targets[i]] for j, i in enumerate(pos))), len(pos)


def _scores(engine: ChatEngine, contract: Contract, prompts: list[Prompt], adapter: str | None) -> dict:
    import contextlib
    import math
    model, tok = engine.model, engine.tokenizer
    if adapter:
        model.set_adapter(adapter)
    ctx = contextlib.nullcontext() if adapter else model.disable_adapter()
    out: dict = {}
    with ctx:
        items = [json.loads(line) for line in (EVAL_DATA / "knowledge_probe.jsonl").read_text(
            encoding="utf-8").splitlines() if line.strip()]
        right = {"en": [], "ja": []}
        for it in items:  # lm-eval style: plain "Question/Answer" completion, summed log-likelihood per choice
            prefix = tok(f"Question: {it['question']}\nAnswer:", add_special_tokens=False)["input_ids"]
            scores = []
            for choice in it["choices"]:
                ids = tok(f"Question: {it['question']}\nAnswer: {choice}", add_special_tokens=False)["input_ids"]
                labels = [IGNORE] * len(prefix) + ids[len(prefix):]
                scores.append(-_nll(model, ids, labels)[0])
            right[it["lang"]].append(int(max(range(len(scores)), key=scores.__getitem__) == it["answer"]))
        allr = right["en"] + right["ja"]
        out["knowledge_score"] = sum(allr) / len(allr)
        out["knowledge_en"] = sum(right["en"]) / len(right["en"])
        out["knowledge_ja"] = sum(right["ja"]) / len(right["ja"])
        total, count = 0.0, 0
        for line in (EVAL_DATA / "general_text.txt").read_text(encoding="utf-8").splitlines():
            ids = tok(line, add_special_tokens=False)["input_ids"]
            nll, n = _nll(model, ids, ids)
            total, count = total + nll, count + n
        out["general_ppl"] = math.exp(total / count)
        refs = [p for p in prompts if p.reference]
        if refs:
            total, count = 0.0, 0
            for p in refs:
                r = render(Conversation(contract.system_for(), [(p.question, p.reference)]), contract.template, tok)
                nll, n = _nll(model, r.input_ids, r.labels)
                total, count = total + nll, count + n
            out["reference_ppl"] = math.exp(total / max(count, 1))
    return out


def evaluate(run_ref: str | Path, prompts_path: str | Path | None = None, runs_dir: Path | None = None,
             max_new_tokens: int = 64, progress: Callable[[float, str], None] | None = None,
             against: str = "base") -> EvalResults:
    """The run's adapter against the bare base, or (against="parent", for a run started from another run, such as
    a DPO run) against its parent's adapter, which then takes the "base" column of the results."""
    say = progress or (lambda f, msg: None)
    adapter = adapter_dir(run_ref, runs_dir)
    run = adapter.parent
    contract = Contract.load(adapter)
    prompts = read_prompts(prompts_path or default_prompts(run))
    out_dir = Run(run).eval
    out_dir.mkdir(exist_ok=True)
    atomic_write_text(out_dir / "state.json", json.dumps({"state": "running", "complete": False}), keep_backups=0)
    say(0.02, loading("eval.p.loading"))
    engine = ChatEngine(contract.base_model_path)
    engine.add_adapter("tuned", adapter)
    adapters, tag = {"base": None, "tuned": "tuned"}, ""
    if against == "parent":
        if not contract.parent_run:
            raise StudioError("err.eval.no_parent", run=run.name)
        engine.add_adapter("parent", adapter_dir(contract.parent_run, runs_dir or run.parent))
        adapters, tag = {"base": "parent", "tuned": "tuned"}, "parent-"
    settings = GenSettings(max_new_tokens=max_new_tokens)
    answers = _answers(engine, contract, prompts, settings, out_dir / f"answers-{tag}{max_new_tokens}.jsonl", say,
                       adapters=adapters)
    items = ff.read_freeform(EVAL_DATA / ff.FREEFORM_FILE)
    free_settings = GenSettings(max_new_tokens=min(max_new_tokens, FREEFORM_TOKENS))
    # a base checkpoint cannot chat: its knowledge is asked as text to continue, so the free-form column compares
    # what the base knows with what the character still says (the Evaluate tab says so)
    base_as_text = against == "base" and is_base_checkpoint(contract.base_model_path)
    free = _answers(engine, contract, [Prompt(it.question) for it in items], free_settings,
                    out_dir / f"freeform-{tag}{'text-' if base_as_text else ''}{free_settings.max_new_tokens}.jsonl",
                    say, span=(0.55, 0.7), adapters=adapters,
                    as_text=frozenset({"base"}) if base_as_text else frozenset())
    results = EvalResults(str(prompts_path or default_prompts(run)), max_new_tokens, against,
                          contract.parent_run if against == "parent" else "", "text" if base_as_text else "chat")
    for i, model in enumerate(MODELS):
        say(0.7 + 0.15 * i, T("eval.p.scoring", model=T(f"eval.model.{model}")))
        texts = [a["answer"] for a in answers[model]]
        replies = Replies(texts, [a["stopped"] for a in answers[model]], [p.reference for p in prompts],
                          [a["answer"] for a in free[model]], items, contract.style_markers, contract.target_chars,
                          contract.system_for())
        results.metrics(model).update({**score_replies(replies), **_scores(engine, contract, prompts,
                                                                           adapters[model])})
    results.answers = [Answered(p.question, p.reference, b["answer"], t["answer"], b["stopped"], t["stopped"])
                       for p, b, t in zip(prompts, answers["base"], answers["tuned"])]
    results.freeform = [FreeformAnswer(it.question, "|".join(it.answers), it.lang, b["answer"], t["answer"],
                                       ff.is_correct(b["answer"], it.answers), ff.is_correct(t["answer"], it.answers))
                        for it, b, t in zip(items, free["base"], free["tuned"])]
    results.freeform_drop = ff.dropped(results.base["freeform_score"], results.tuned["freeform_score"])
    results.forgetting = bool(results.freeform_drop is not None and results.freeform_drop > ff.DROP_FLAG)
    results.collapse = m.collapsed(results.tuned["duplicate_share"], results.tuned["system_overlap"])
    results.complete = True
    engine.release()
    target = Run(run).results if against == "base" else Run(run).results_parent
    atomic_write_text(target, results.to_json(), keep_backups=0)
    atomic_write_text(out_dir / "state.json", json.dumps({"state": "complete", "complete": True}), keep_backups=0)
    say(1.0, T("eval.p.done"))
    return results
