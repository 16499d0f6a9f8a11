"""A persona's rules: what each reply of the character must do, checkable without a person — its sentence endings,
its first person, its length band, the phrases it never says, its language, that it stops. Each rule is a pure
function of one reply giving pass or fail; a persona without rules of its own gets rules derived from its own answers.
The rule voter (`rule_pairs`) turns several sampled replies to one prompt into preference pairs. Pure Python."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field, fields

from studio.data.style import ANYWHERE, sentences

RULE_NAMES = ("endings", "first_person", "length", "never_say", "language", "stops")
# Japanese first persons, each with the spellings that count as it (わたくし is often written 私)
FIRST_PERSONS: dict[str, tuple[str, ...]] = {
    "わたくし": ("わたくし", "私"), "わたし": ("わたし", "私"), "あたし": ("あたし",), "僕": ("僕", "ぼく"),
    "俺": ("俺", "おれ", "オレ"), "わし": ("わし",), "拙者": ("拙者",), "吾輩": ("吾輩", "我輩"), "うち": ("ウチ",),
}
NEVER_SAY = ("AIです", "AIとして", "言語モデル", "人工知能です", "アシスタントです", "As an AI", "language model")
KANA = re.compile(r"[\u3040-\u30ff]")
LATIN = re.compile(r"[A-Za-z]")


@dataclass
class PersonaRules:
    endings: list[str] = field(default_factory=list)     # sentence-final forms: half a reply's sentences end on one
    first_person: str = ""                               # the character's first person; others fail ('' = unchecked)
    min_chars: int = 0                                   # the length band (0 and 0: unchecked)
    max_chars: int = 0
    never_say: list[str] = field(default_factory=lambda: list(NEVER_SAY))
    language: str = "ja"                                 # ja | en | '' (any)
    disabled: list[str] = field(default_factory=list)    # rules switched off ("off" would read as false in YAML)

    def active(self) -> tuple[str, ...]:
        """The rules that apply: switched on and with something to check."""
        empty = {"endings": not self.endings, "first_person": not self.first_person,
                 "length": not (self.min_chars or self.max_chars), "never_say": not self.never_say,
                 "language": not self.language, "stops": False}
        return tuple(r for r in RULE_NAMES if r not in self.disabled and not empty[r])

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PersonaRules:
        """Raises ValueError naming the field that is not what it should be."""
        if not isinstance(data, dict):
            raise ValueError("rules")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"rules.{sorted(map(str, unknown))[0]}")
        out = cls()
        for name in ("endings", "never_say", "disabled"):
            if name in data:
                value = data[name] if data[name] is not None else []
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"rules.{name}")
                setattr(out, name, [v for v in value if v.strip()])
        for name in ("first_person", "language"):
            if name in data:
                if not isinstance(data[name], (str, type(None))):
                    raise ValueError(f"rules.{name}")
                setattr(out, name, data[name] or "")
        for name in ("min_chars", "max_chars"):
            if name in data:
                if isinstance(data[name], bool) or not isinstance(data[name], int) or data[name] < 0:
                    raise ValueError(f"rules.{name}")
                setattr(out, name, data[name])
        if out.max_chars and out.min_chars > out.max_chars:
            raise ValueError("rules.min_chars")
        if out.language not in ("ja", "en", ""):
            raise ValueError("rules.language")
        if set(out.disabled) - set(RULE_NAMES):
            raise ValueError("rules.disabled")
        return out


def _language_of(text: str) -> str:
    if KANA.search(text):
        return "ja"
    return "en" if LATIN.search(text) else ""


def check(reply: str, stopped: bool, rules: PersonaRules) -> dict[str, bool]:
    """Pass (True) or fail per active rule."""
    text = reply.strip()
    out: dict[str, bool] = {}
    for rule in rules.active():
        if rule == "endings":
            sents = sentences(text)
            hits = sum(any(e in s[-(len(e) + 2):] for e in rules.endings) for s in sents)
            out[rule] = bool(sents) and hits * 2 >= len(sents)
        elif rule == "first_person":
            own = FIRST_PERSONS.get(rules.first_person, (rules.first_person,))
            rest = text
            for spelling in sorted(own, key=len, reverse=True):   # its own first person is never another's
                rest = rest.replace(spelling, "\0")
            out[rule] = not any(s in rest for k, spellings in FIRST_PERSONS.items() if k != rules.first_person
                                for s in spellings if s not in own)
        elif rule == "length":
            out[rule] = rules.min_chars <= len(text) and (not rules.max_chars or len(text) <= rules.max_chars)
        elif rule == "never_say":
            low = text.lower()
            out[rule] = not any(p.lower() in low for p in rules.never_say)
        elif rule == "language":
            out[rule] = _language_of(text) == rules.language
        elif rule == "stops":
            out[rule] = bool(stopped)
    return out


def score(reply: str, stopped: bool, rules: PersonaRules) -> int:
    """How many of the active rules a reply keeps."""
    return sum(check(reply, stopped, rules).values())


def pass_rates(replies: list[tuple[str, bool]], rules: PersonaRules) -> dict[str, float | None]:
    """Per active rule, the share of (reply, stopped) that keep it (None: no replies)."""
    checks = [check(r, s, rules) for r, s in replies]
    return {rule: (sum(c[rule] for c in checks) / len(checks) if checks else None) for rule in rules.active()}


def rule_pairs(candidates: list[tuple[str, bool]], rules: PersonaRules) -> list[tuple[str, str]]:
    """(chosen, rejected) pairs from several replies to one prompt: the best by the rules against each reply the
    rules score lower. Replies the rules cannot tell apart give no pair; several rejected replies are all kept."""
    scored = [(score(text, stopped, rules), text) for text, stopped in candidates]
    if not scored:
        return []
    best, chosen = max(scored, key=lambda x: x[0])
    seen: set[str] = set()
    out = []
    for s, text in scored:
        if s < best and text not in seen and text != chosen:
            seen.add(text)
            out.append((chosen, text))
    return out


def derive(answers: list[str], markers: list[str]) -> PersonaRules:
    """Rules found in the persona's own answers: the markers its sentences end on, the first person it uses most,
    a length band around its answers (10th to 90th percentile, widened by a quarter) and their language."""
    answers = [a.strip() for a in answers if a.strip()]
    if not answers:
        return PersonaRules(language="")
    sents = [s for a in answers for s in sentences(a)]
    endings = [m for m in markers if m not in ANYWHERE and any(m in s[-(len(m) + 2):] for s in sents)]
    counts = Counter({fp: sum(a.count(s) for a in answers for s in spellings if not (fp != "わたくし" and s == "私"))
                      for fp, spellings in FIRST_PERSONS.items()})
    first, n = counts.most_common(1)[0]
    lengths = sorted(len(a) for a in answers)
    p10, p90 = lengths[len(lengths) // 10], lengths[min(len(lengths) - 1, (len(lengths) * 9) // 10)]
    language = Counter(_language_of(a) for a in answers).most_common(1)[0][0]
    return PersonaRules(endings=endings, first_person=first if n else "", min_chars=int(p10 * 0.75),
                        max_chars=max(int(p90 * 1.25 + 0.999), 1), language=language)


def comma_list(text: str) -> list[str]:
    """Items typed comma-separated (a Japanese 、 counts as a comma), blanks dropped: markers, endings, phrases."""
    return [t.strip() for t in str(text).replace("、", ",").split(",") if t.strip()]


def rule_value(rules: PersonaRules, rule: str) -> str:
    """A rule's setting as the Persona tab shows it (lists comma-separated, the band as 'min-max')."""
    return {"endings": ", ".join(rules.endings), "first_person": rules.first_person,
            "length": f"{rules.min_chars}-{rules.max_chars}", "never_say": ", ".join(rules.never_say),
            "language": rules.language, "stops": ""}[rule]


def from_rows(rows: list[tuple[str, bool, str]]) -> PersonaRules:
    """Rules from the Persona tab's table: (rule, switched on, value). Raises ValueError naming the rule whose value
    cannot be read (a band that is not 'min-max', a language other than ja, en or empty)."""
    out = PersonaRules(never_say=[])
    for rule, on, value in rows:
        if rule not in RULE_NAMES:
            raise ValueError(str(rule))
        value = "" if value is None else str(value).strip()
        if not on:
            out.disabled.append(rule)
        if rule in ("endings", "never_say"):
            setattr(out, rule, comma_list(value))
        elif rule == "first_person":
            out.first_person = value
        elif rule == "language":
            if value not in ("ja", "en", ""):
                raise ValueError(rule)
            out.language = value
        elif rule == "length" and value:
            low, sep, high = value.replace("〜", "-").replace("~", "-").partition("-")
            if not sep or not low.strip().isdigit() or not high.strip().isdigit() or int(low) > int(high):
                raise ValueError(rule)
            out.min_chars, out.max_chars = int(low), int(high)
    return out
