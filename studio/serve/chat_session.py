"""One browser session's side-by-side chat: which model each pane shows, histories, blind sides, engines.

No gradio here; the Chat tab wires widgets to these functions. Engines live in the session (never in module
globals) and are released when training starts.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.models import resolve
from studio.format.contract import Contract
from studio.jobs.folders import Run, resolve_run
from studio.jobs.runs import list_runs
from studio.locale import T, Text, tr
from studio.serve.chat import ChatEngine, GenSettings, Reply, Row
from studio.serve.votes import SETTINGS, assign_sides, record_rating, record_vote, votes_path

MAX_SYSTEM_CHARS = 4000   # a system prompt tried in the Chat tab (a persona's is a few hundred characters)


def side(choice: str, contract: Contract | None) -> dict:
    """What a vote keeps of one pane: the model, and the persona, template and system prompt it answered with."""
    if contract is None:
        return {"model": choice}
    return {"model": choice, "persona": contract.persona_name, "template": contract.template,
            "system_prompt": contract.system_for(), "base_model_hash": contract.base_model_hash}


def model_choices(runs_dir: Path) -> list[str]:
    """'base', then every finished run's adapter and merged model, newest first."""
    out = ["base"]
    for r in list_runs(runs_dir):
        if Run(r.path).has_adapter():
            out.append(f"run:{r.id}")
        if Run(r.path).has_merged():
            out.append(f"merged:{r.id}")
    return out


@dataclass
class Pane:
    choice: str
    history: list[tuple[str, str]] = field(default_factory=list)   # what the model is prompted with
    shown: list[str] = field(default_factory=list)                 # replies as displayed, with [cut] marks


@dataclass(eq=False)  # compared and hashed by identity, so the registry can hold it weakly
class ChatSession:
    runs_dir: str
    panes: list[Pane] = field(default_factory=lambda: [Pane("base"), Pane("base")])
    engines: dict[str, ChatEngine] = field(default_factory=dict)
    blind: bool = False
    revealed: bool = True
    last: dict = field(default_factory=dict)   # the last exchange, for a vote
    answering: bool = False                    # both panes still stream: a vote now would judge half answers
    queued: list[str] = field(default_factory=list)   # messages sent while the panes stream, answered in order
    used: list = field(default_factory=lambda: [None, None])   # the contract each pane last answered with
    offered: dict = field(default_factory=dict)   # candidates shown for one pane's last reply, until one is picked

    def release(self) -> None:
        for e in self.engines.values():
            e.release()
        self.engines.clear()

    def start(self, first: str, second: str, blind: bool) -> None:
        """A new conversation: blind mode hides which model is on which side until the vote."""
        left, right = assign_sides(first, second) if blind else (first, second)
        self.panes, self.blind, self.revealed, self.last = [Pane(left), Pane(right)], blind, not blind, {}

    def needs_new_comparison(self, first: str, second: str, blind: bool) -> bool:
        """A new conversation starts when nothing was said yet, the models or the mode changed, or (blind) the
        last comparison was voted on: every blind comparison gets freshly shuffled sides."""
        return (not any(p.history for p in self.panes) or self.blind != blind
                or {p.choice for p in self.panes} != {first, second} or (blind and self.revealed))

    def labels(self) -> tuple[str, str]:
        if self.revealed:
            return tuple(f"{s}: {p.choice}" for s, p in zip("AB", self.panes))
        return "A", "B"

    def _resolve(self, choice: str, other: str) -> tuple[str, str | None, Contract | None]:
        runs = Path(self.runs_dir)

        def run_of(ref: str) -> Run:  # a run of this studio only: "run:../x" or an absolute path is refused
            return resolve_run(ref, runs, inside=True)
        if choice.startswith("run:"):
            adapter = run_of(choice[4:]).adapter
            contract = Contract.load(adapter)
            return contract.base_model_path, str(adapter), contract
        if choice.startswith("merged:"):
            return str(run_of(choice[7:]).merged), None, None
        if other.startswith(("run:", "merged:")) and other != choice:  # the base the other pane was tuned from
            other_run = run_of(other.split(":", 1)[1])
            path = other_run.adapter if other.startswith("run:") else other_run.merged
            c = Contract.load(path)
            return c.base_model_path, None, c
        return resolve("default"), None, None

    def _engine(self, base: str) -> ChatEngine:
        if base not in self.engines:
            self.engines[base] = ChatEngine(base)
        return self.engines[base]

    def respond(self, message: str, settings: GenSettings, lang: str = "en", system: str | None = None,
                only: int | None = None) -> Iterator[list[str]]:
        """Stream both panes (or pane `only`, whose last exchange regenerate_one() took back); panes on the same
        base decode together. A pane that fails shows why; the other pane still answers. `system`, when given,
        replaces every model's system prompt for this exchange (trying a prompt without retraining); a vote
        records the prompt that was used."""
        if not message.strip():
            raise StudioError("chat.type_first")
        if system is not None and len(system) > MAX_SYSTEM_CHARS:
            raise StudioError("chat.system_too_long", n=len(system), max=MAX_SYSTEM_CHARS)
        self.answering, self.last = True, {}   # the exchange on screen is this one now, not the previous
        try:
            yield from self._respond(message, settings, lang, system, only)
        finally:
            self.answering = False

    def _respond(self, message: str, settings: GenSettings, lang: str, system: str | None,
                 only: int | None) -> Iterator[list[str]]:
        asked = [i for i in (0, 1) if only is None or i == only]
        texts = [p.shown[-1] if i not in asked and p.shown else "" for i, p in enumerate(self.panes)]
        used: list[Contract | None] = [None, None]   # each pane's contract: what a vote needs to re-render it
        groups: dict[str, list[tuple[int, Row]]] = {}
        for i, pane in enumerate(self.panes):
            try:
                base, adapter, contract = self._resolve(pane.choice, self.panes[1 - i].choice)
                engine = self._engine(base)
                name = None
                if adapter:
                    name = pane.choice
                    contract = engine.add_adapter(name, adapter)
                contract = contract or engine.own_contract
                if system is not None:
                    contract = replace(contract, system_prompt=system, notes="", notes_in_prompt=False)
                used[i] = contract
                if i in asked:
                    groups.setdefault(base, []).append((i, Row(name, contract, list(pane.history), message)))
            except StudioError as e:
                texts[i] = f"⚠ {e.render(lang)}"
        replies = [None, None]
        for base, rows in groups.items():
            try:
                for out in self.engines[base].stream([r for _, r in rows], settings):
                    for (i, _), item in zip(rows, out):
                        if isinstance(item, str):
                            texts[i] = item
                        else:
                            replies[i] = item
                            cut = "" if item.stopped else tr(lang, "chat.looped" if item.looped else "chat.cut")
                            texts[i] = item.text + cut + \
                                (tr(lang, "chat.shortened") if item.prompt_truncated else "")
                    yield list(texts)
            except StudioError as e:
                for i, _ in rows:
                    texts[i] = f"⚠ {e.render(lang)}"
        for i, pane in enumerate(self.panes):
            if replies[i] is not None:
                pane.history.append((message, replies[i].text))
                pane.shown.append(texts[i])
            elif i not in asked and pane.history:
                replies[i] = Reply(pane.history[-1][1], True, 0)   # the kept side's answer, for a vote
        self.used, self.offered = used, {}
        self.last = {"prompt": message, "answers": [r.text if r else "" for r in replies],
                     "history": [[list(t) for t in p.history[:-1]] for p in self.panes],
                     "sides": [side(p.choice, c) for p, c in zip(self.panes, used)]}
        yield list(texts)

    def vote(self, which: str, settings: list, log: Path | None = None) -> tuple[str, str]:
        """Record a vote on the last exchange (with the generation settings it was made with) and reveal the sides;
        returns the models on the left and on the right. Refused before a first exchange and while answering."""
        if self.answering:
            raise StudioError("chat.wait_for_answers")
        if not self.last:
            raise StudioError("chat.chat_first")
        a, b = self.panes[0].choice, self.panes[1].choice
        record_vote(log or votes_path(), which, a, b, self.last["history"], self.last["prompt"],
                    self.last["answers"][0], self.last["answers"][1], dict(zip(SETTINGS, settings)),
                    self.last.get("sides"))
        self.revealed, self.last = True, {}
        return a, b

    def rate(self, pane: int, good: bool, settings: list, log: Path | None = None) -> str:
        """👍/👎 on one pane's last reply (what KTO learns from); returns the model rated."""
        p = self.panes[pane]
        if self.answering:
            raise StudioError("chat.wait_for_answers")
        if not p.history:
            raise StudioError("chat.chat_first")
        sides = self.last.get("sides") or [{}, {}]
        history = [list(t) for t in p.history[:-1]]
        record_rating(log or votes_path(), p.choice, good, history, p.history[-1][0], p.history[-1][1],
                      dict(zip(SETTINGS, settings)), sides[pane] if len(sides) > pane else {})
        return p.choice

    def candidates(self, pane: int, n: int, settings: GenSettings) -> list[str]:
        """`n` sampled replies to the pane's last message (with the history before it and the same contract), for
        the user to pick the best of; greedy settings are warmed (0.8) so the candidates differ. Returns the
        distinct ones."""
        from studio.serve.batched import generate_many
        p = self.panes[pane]
        if self.answering:
            raise StudioError("chat.wait_for_answers")
        if not p.history or self.used[pane] is None:
            raise StudioError("chat.candidates_chat_first")
        base, adapter, _ = self._resolve(p.choice, self.panes[1 - pane].choice)
        engine = self._engine(base)
        name = p.choice if adapter else None
        if adapter:
            engine.add_adapter(name, adapter)
        hot = settings if settings.temperature > 0 else replace(settings, temperature=0.8, top_p=0.95)
        prompt = p.history[-1][0]
        got = generate_many(engine, [Row(name, self.used[pane], list(p.history[:-1]), prompt)], hot, samples=n)[0]
        texts = list(dict.fromkeys(r.text for r in got if r.text.strip()))
        self.offered = {"pane": pane, "prompt": prompt, "texts": texts, "history": [list(t) for t in p.history[:-1]],
                        "side": side(p.choice, self.used[pane])}
        return texts

    def pick(self, k: int, settings: list, log: Path | None = None) -> int:
        """The user's pick among the offered candidates: recorded as chosen against each of the others (one pair
        each, the same votes log), and it becomes the pane's reply the conversation goes on from. Returns the pairs
        recorded."""
        o = self.offered
        if not o or not 0 <= k < len(o["texts"]):
            raise StudioError("chat.candidates_first")
        pane = self.panes[o["pane"]]
        chosen = o["texts"][k]
        others = [t for t in o["texts"] if t != chosen]
        for other in others:
            record_vote(log or votes_path(), "A", pane.choice, pane.choice, o["history"], o["prompt"], chosen, other,
                        dict(zip(SETTINGS, settings)), [o["side"], o["side"]])
        if pane.history and pane.history[-1][0] == o["prompt"]:
            pane.history[-1] = (o["prompt"], chosen)
            pane.shown[-1] = chosen
        self.offered, self.last = {}, {}
        return len(others)

    def undo_last(self, only: int | None = None) -> str | None:
        """Drop the last exchange from both panes, or from pane `only` when both have it (for regenerate);
        returns its message."""
        if only is not None and len(self.panes[only].history) != len(self.panes[1 - only].history):
            return None   # that pane failed last time: regenerate both
        msg = None
        for i, p in enumerate(self.panes):
            if p.history and (only is None or i == only):
                msg = p.history.pop()[0]
                p.shown.pop()
        return msg


class ChatRegistry:
    """The app's live chat sessions, held weakly, so that starting a training from any browser tab frees every
    tab's chat models (there is one GPU). It holds no user data; a session still owns its engines and histories."""

    def __init__(self) -> None:
        self._sessions: weakref.WeakSet[ChatSession] = weakref.WeakSet()
        self._lock = threading.Lock()

    def track(self, session: ChatSession) -> ChatSession:
        with self._lock:
            self._sessions.add(session)
        return session

    def release_for_job(self) -> Text | str:
        """Before a GPU job starts (there is one GPU): release every tab's chat models; says how many, if any."""
        n = self.release_all()
        return T("train.released", n=n) if n else ""

    def release_all(self) -> int:
        """Release every session's models; returns how many were loaded."""
        with self._lock:
            sessions = list(self._sessions)
        released = 0
        for session in sessions:
            released += len(session.engines)
            session.release()
        return released
