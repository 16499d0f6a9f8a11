"""Drafted candidates: answers a model wrote for new questions, waiting for review in the persona folder's
drafts.jsonl. Nothing reaches pairs.csv until accepted. The file is append-only (candidate lines from the draft job,
decision lines from the review), so a job still drafting and a person reviewing never overwrite each other, and an
interrupted job resumes by skipping the questions it already answered. No torch, no gradio."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from studio.core.jsonl import append_jsonl, read_jsonl
from studio.data.persona import Persona, QAPair
from studio.data.validate import SPECIAL_TOKEN_RE
from studio.locale import T, Text

DRAFTS_FILE = "drafts.jsonl"
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
BAND = 0.5   # the same length band as the evaluation's length adherence


@dataclass
class Candidate:
    id: str
    question: str
    answer: str
    model: str                  # what drafted it (shown in the review, saved in the pair's 'drafted' column)
    stopped: bool = True        # False: cut at the token limit
    status: str = PENDING
    edited: bool = False
    problems: list[Text] = field(default_factory=list)   # filled by check(), never stored


def _append(folder: Path, records: list[dict]) -> None:
    append_jsonl(Path(folder) / DRAFTS_FILE, records)


def add_candidates(folder: Path, candidates: list[Candidate]) -> None:
    _append(folder, [{k: v for k, v in asdict(c).items() if k != "problems"} for c in candidates])


def decide(folder: Path, decisions: dict[str, tuple[str, str | None]]) -> None:
    """{id: (accepted|rejected, edited answer or None)} as decision lines."""
    _append(folder, [{"decide": cid, "status": status, "answer": answer} for cid, (status, answer) in
                     decisions.items()])


def load_candidates(folder: Path) -> list[Candidate]:
    """Every candidate with its latest decision applied; a torn last line (a killed job) is skipped."""
    by_id: dict[str, Candidate] = {}
    for rec in read_jsonl(Path(folder) / DRAFTS_FILE):
        try:
            if "decide" in rec:
                c = by_id.get(rec["decide"])
                if c is not None and rec.get("status") in (PENDING, ACCEPTED, REJECTED):
                    answer = rec.get("answer")
                    edited = c.edited or (answer is not None and answer != c.answer)
                    by_id[c.id] = replace(c, status=rec["status"], edited=edited,
                                          answer=c.answer if answer is None else str(answer))
            else:
                text = ("id", "question", "answer", "model")
                if not all(isinstance(rec.get(k), (str, int)) and not isinstance(rec.get(k), bool) for k in text) \
                        or not isinstance(rec.get("stopped", True), bool) \
                        or rec.get("status", PENDING) not in (PENDING, ACCEPTED, REJECTED):
                    raise TypeError
                by_id[str(rec["id"])] = Candidate(*(str(rec[k]) for k in text), rec.get("stopped", True),
                                                  rec.get("status", PENDING), bool(rec.get("edited", False)))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a record of the wrong shape (an edited or damaged line): skipped, never a crash
    return list(by_id.values())


def next_id(candidates: list[Candidate]) -> int:
    return 1 + max((int(c.id) for c in candidates if c.id.isdigit()), default=0)


def check(c: Candidate, persona: Persona) -> list[Text]:
    """The same checks as the table's: markers present, length band, no literal special tokens; plus cut off,
    not Japanese (for a Japanese persona) and a copy of an existing answer."""
    from studio.data.style import TRAILING, in_style, sentences
    out: list[Text] = []
    text = c.answer.strip()
    if not text:
        return [T("draft.p.empty")]
    if not c.stopped:
        out.append(T("draft.p.cut"))
    markers = persona.style.markers
    if markers and any(JAPANESE.search(m) for m in markers) and not JAPANESE.search(text):
        out.append(T("draft.p.not_japanese"))
    elif markers and not in_style(text, markers):
        out.append(T("draft.p.no_marker"))
    target = persona.style.target_chars
    if target > 0 and not target * (1 - BAND) <= len(text) <= target * (1 + BAND):
        out.append(T("draft.p.length", n=len(text), lo=int(target * (1 - BAND)), hi=int(target * (1 + BAND))))
    said = sentences(text)
    if len(said) != len(set(said)):
        out.append(T("draft.p.repeats"))
    asked = c.question.strip().rstrip(TRAILING)
    if len(asked) >= 4 and asked[:-1] in text:
        out.append(T("draft.p.echo"))
    if SPECIAL_TOKEN_RE.search(text):
        out.append(T("draft.p.special", found=SPECIAL_TOKEN_RE.search(text).group(0)))
    if any(p.answer.strip() == text for p in persona.pairs):
        out.append(T("draft.p.copy"))
    if any(p.question.strip() == c.question.strip() for p in persona.pairs):
        out.append(T("draft.p.question_exists"))
    return out


def review_list(candidates: list[Candidate], persona: Persona) -> list[Candidate]:
    """Pending candidates, checked, worst first (most problems), then in drafting order."""
    pending = [replace(c, problems=check(c, persona)) for c in candidates if c.status == PENDING]
    return sorted(pending, key=lambda c: (-len(c.problems), int(c.id) if c.id.isdigit() else 0))


def accepted_pairs(candidates: list[Candidate], ids: list[str], edits: dict[str, str]) -> list[QAPair]:
    """The table rows for the accepted candidates, in drafting order, each marked with the model that drafted
    it ('model, edited' when the reviewer changed the answer)."""
    out = []
    for c in candidates:
        if c.id in ids and c.status == PENDING:
            answer = edits.get(c.id, c.answer)
            edited = c.edited or answer != c.answer
            out.append(QAPair(c.question, answer.strip(), drafted=f"{c.model}, edited" if edited else c.model))
    return out
