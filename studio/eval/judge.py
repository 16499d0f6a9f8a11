"""An optional judge: any OpenAI-compatible endpoint compares two replies to the same question against the persona,
with a rubric in the persona's language, asked in both orders (a judge that prefers whichever reply comes first
gives a tie, not a win). Its agreement with the user's own blind votes — Cohen's kappa on the votes log — is
reported beside its scores, so the user sees whether to trust it.

The endpoint is never required: one that is down, slow or answers garbage ends the judging with the reason, and
the evaluation's own numbers stand. The key is read from an environment variable whose *name* is given; the key
itself is never written to results, logs or messages. Every call is bounded in time, and the calls in number."""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from studio.core.errors import StudioError

KEY_ENV = "STUDIO_JUDGE_KEY"
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_REPLY_CHARS = 2000   # what the judge is shown of each reply (a runaway reply is cut, not sent whole)

RUBRIC = {
    "ja": ("あなたはキャラクターチャットの審査員です。キャラクター「{name}」の設定:\n{persona}\n{rules}\n"
           "ユーザーの発言に対する返答 A と B のうち、キャラクターらしさ（口調・一人称・設定を守ること）と"
           "自然さ・内容の適切さで優れている方を選んでください。"
           "答えは A、B、引き分けなら TIE の一語だけで答えてください。"),
    "en": ("You judge a character chat. The character “{name}”:\n{persona}\n{rules}\n"
           "Of replies A and B to the user's message, pick the one that stays in character better (voice, first "
           "person, background) and answers naturally and sensibly. Answer with one word only: A, B, or TIE."),
}


@dataclass(frozen=True)
class Judge:
    url: str                     # the endpoint's base, e.g. http://127.0.0.1:8000/v1 (…/chat/completions is added)
    model: str
    key_env: str = KEY_ENV       # the NAME of the environment variable holding the key (unset: no key sent)
    timeout_s: float = 30.0      # per call
    max_calls: int = 400         # per judging (two calls a comparison)

    def check(self) -> None:
        if not re.match(r"https?://[^\s/]+", self.url or ""):
            raise StudioError("err.judge.url", url=(self.url or "")[:200])
        if not (self.model or "").strip():
            raise StudioError("err.judge.model")
        if not ENV_NAME.fullmatch(self.key_env or ""):   # a key pasted here would end up in the results
            raise StudioError("err.judge.key_env")


class JudgeDown(Exception):
    """The endpoint cannot be used: its reason (never the key, never a server's raw text)."""


@dataclass
class JudgeReport:
    judge: dict = field(default_factory=dict)   # url, model and the key's variable name (not the key)
    n: int = 0                                  # comparisons judged in both orders
    tuned_wins: int = 0
    base_wins: int = 0
    ties: int = 0                               # including a judge that changed its mind with the order
    unparsed: int = 0                           # answers that were neither A, B nor TIE
    tuned_win_rate: float | None = None
    kappa: float | None = None                  # agreement with the user's blind votes (None: too few votes)
    votes_judged: int = 0
    error: str = ""                             # why judging stopped early ('' = it did not)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)


def rubric(name: str, persona: str, rules: str, lang: str) -> str:
    return RUBRIC["ja" if lang == "ja" else "en"].format(name=name or "-", persona=persona or "-", rules=rules or "")


def ask(judge: Judge, client, system: str, user: str) -> str:
    """One chat completion; raises JudgeDown with a reason fit to show (the key is only in the header)."""
    import httpx
    key = os.environ.get(judge.key_env, "")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": judge.model, "temperature": 0, "max_tokens": 8,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}
    try:
        r = client.post(judge.url.rstrip("/") + "/chat/completions", json=body, headers=headers,
                        timeout=judge.timeout_s)
    except httpx.TimeoutException:
        raise JudgeDown(f"no answer within {judge.timeout_s:g} s") from None
    except httpx.HTTPError as e:
        raise JudgeDown(f"cannot reach {judge.url} ({type(e).__name__})") from None
    if r.status_code != 200:
        raise JudgeDown(f"{judge.url} answered HTTP {r.status_code}")
    try:
        text = r.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise JudgeDown(f"{judge.url} did not answer as an OpenAI-compatible server") from None
    if not isinstance(text, str):
        raise JudgeDown(f"{judge.url} did not answer as an OpenAI-compatible server")
    return text


def verdict(text: str) -> str | None:
    """'A', 'B', 'tie' from the judge's answer; None when it is none of them."""
    word = re.sub(r"[^A-Za-z]", " ", text or "").split()
    first = word[0].upper() if word else ""
    return {"A": "A", "B": "B", "TIE": "tie"}.get(first)


def compare(judge: Judge, client, system: str, question: str, first: str, second: str) -> str | None:
    """'first', 'second' or 'tie' after asking in both orders (a judge that changes its mind with the order gives a
    tie); None when an answer could not be read."""
    def prompt(a: str, b: str) -> str:
        return (f"User: {question[:MAX_REPLY_CHARS]}\n\nA: {a[:MAX_REPLY_CHARS]}\n\nB: {b[:MAX_REPLY_CHARS]}\n\n"
                "A / B / TIE?")
    one = verdict(ask(judge, client, system, prompt(first, second)))
    two = verdict(ask(judge, client, system, prompt(second, first)))
    if one is None or two is None:
        return None
    if one == "A" and two == "B":
        return "first"
    if one == "B" and two == "A":
        return "second"
    return "tie"


def kappa(a: list[str], b: list[str]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items (None: no items, or chance agreement is certain)."""
    if len(a) != len(b) or not a:
        return None
    n = len(a)
    labels = set(a) | set(b)
    observed = sum(x == y for x, y in zip(a, b)) / n
    expected = sum((a.count(k) / n) * (b.count(k) / n) for k in labels)
    return None if expected >= 1.0 else (observed - expected) / (1.0 - expected)


def judge_all(judge: Judge, system: str, answers: list[tuple[str, str, str]], votes: list[dict],
              say: Callable[[float, str], None] = lambda f, m: None, client=None) -> JudgeReport:
    """The tuned model's replies against the base's (question, base, tuned) in both orders, then the user's A/B
    votes (prompt, answer_a, answer_b, vote) judged the same way for kappa. Stops at the first failure of the
    endpoint, or at the call limit, saying why."""
    import httpx
    judge.check()
    report = JudgeReport(judge={"url": judge.url, "model": judge.model, "key_env": judge.key_env})
    own = client is None
    client = client or httpx.Client()
    calls = 0
    human, judged = [], []
    try:
        for i, (q, base, tuned) in enumerate(answers):
            if calls + 2 > judge.max_calls:
                report.error = f"stopped at the limit of {judge.max_calls} calls"
                break
            calls += 2
            say(i / max(len(answers) + len(votes), 1), f"judging {i + 1}/{len(answers)}")
            got = compare(judge, client, system, q, tuned, base)
            report.n += 1
            if got is None:
                report.unparsed += 1
            else:
                report.tuned_wins += got == "first"
                report.base_wins += got == "second"
                report.ties += got == "tie"
        for v in votes if not report.error else []:
            if calls + 2 > judge.max_calls:
                report.error = f"stopped at the limit of {judge.max_calls} calls"
                break
            calls += 2
            got = compare(judge, client, system, v["prompt"], v["answer_a"], v["answer_b"])
            if got is not None:
                judged.append({"first": "A", "second": "B", "tie": "tie"}[got])
                human.append(v["vote"])
    except JudgeDown as e:
        report.error = str(e)
    finally:
        if own:
            client.close()
    decided = report.tuned_wins + report.base_wins + report.ties
    report.tuned_win_rate = (report.tuned_wins + 0.5 * report.ties) / decided if decided else None
    report.votes_judged = len(judged)
    report.kappa = kappa(judged, human) if len(judged) >= 2 else None
    return report


def of_persona(vote: dict, name: str) -> bool:
    """A vote on this persona's models (a side answered with its contract); other personas' votes need another
    rubric."""
    sides = vote.get("sides")
    return isinstance(sides, list) and any(isinstance(x, dict) and x.get("persona") == name for x in sides)


def judge_run(run_ref: str | Path, judge: Judge, runs_dir: Path | None = None, votes_log: Path | None = None,
              say: Callable[[float, str], None] = lambda f, m: None) -> JudgeReport:
    """Judge a run's saved evaluation (base against tuned) and the user's blind votes on this persona's models;
    saved beside the results (eval/judge.json) and returned. The evaluation must have run first."""
    from studio.core.storage import atomic_write_text
    from studio.data.persona_store import load_persona
    from studio.data.rules import rule_value
    from studio.eval.results import EvalResults
    from studio.jobs.folders import Run, locate
    from studio.serve.votes import pair_votes, read_votes
    judge.check()
    run = Run(locate(run_ref, runs_dir))
    res = EvalResults.load(run.results)
    if res is None or not res.answers:
        raise StudioError("err.judge.not_evaluated", run=run.id)
    persona = load_persona(run.data)
    rules = persona.rules_of()
    lang = rules.language or "ja"
    rules_text = "; ".join(f"{r}: {rule_value(rules, r)}" for r in rules.active() if rule_value(rules, r))
    system = rubric(persona.name, persona.system_prompt, rules_text, lang)
    votes = [v for v in pair_votes(read_votes(votes_log)) if v["model_a"] != v["model_b"]
             and v["vote"] in ("A", "B", "tie") and of_persona(v, persona.name)] if votes_log else []
    report = judge_all(judge, system, [(a.question, a.base, a.tuned) for a in res.answers], votes, say)
    atomic_write_text(run.judge_results, report.to_json(), keep_backups=0)
    return report


def summary(report: JudgeReport, lang: str) -> str:
    """One line: the judge's preference, its agreement with the user's votes, and why it stopped (if it did)."""
    from studio.locale import tr

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.0%}"
    why = tr(lang, "judge.stopped", why=report.error) if report.error else ""
    return tr(lang, "judge.summary", model=report.judge.get("model", "-"), rate=pct(report.tuned_win_rate),
              n=report.n, base=report.base_wins, ties=report.ties, unparsed=report.unparsed,
              kappa="-" if report.kappa is None else f"{report.kappa:.2f}", votes=report.votes_judged, error=why)
