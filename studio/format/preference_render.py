"""Preferences into ids with the one renderer and the parent run's contract: for a pair, the prompt's ids and the
chosen and rejected replies' ids (each ending on the template's end of turn); for a rating, the prompt and the
completion. Checked as the Doctor checks training rows: the prompt must be a prefix of prompt+reply under the
template (trl#1930/#2054), chosen and rejected must differ, replies must not be empty, must end on a stop id and
must not hold a special token's text. What fails is skipped and counted by reason. No torch."""
from __future__ import annotations

from dataclasses import dataclass, field

from studio.data.conversations import Conversation
from studio.data.preferences import Preference
from studio.format.contract import Contract
from studio.format.render import IGNORE, render

# why a preference is left out: the locale's `prefs.skip.<reason>`
REASONS = ("rating", "other_persona", "other_template", "same_reply", "empty_reply", "special_text", "not_a_prefix",
           "no_stop", "too_long")


@dataclass
class PreferenceIds:
    prompt_ids: list[int]
    chosen_ids: list[int] = field(default_factory=list)
    rejected_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)
    label: bool | None = None


@dataclass
class RenderedPreferences:
    rows: list[PreferenceIds] = field(default_factory=list)
    kept: list[Preference] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _specials(tokenizer) -> list[str]:
    return [t for t in tokenizer.all_special_tokens if len(t) > 1]


def _reply_ids(conv: Conversation, contract: Contract, tokenizer, prompt_ids: list[int]) -> list[int] | str:
    """The reply's ids after the prompt, up to and including its end of turn; or the reason it cannot be used."""
    full = render(conv, contract.template, tokenizer, train_on="last")
    if full.input_ids[:len(prompt_ids)] != prompt_ids:
        return "not_a_prefix"
    trained = [i for i, label in enumerate(full.labels) if label != IGNORE]
    if not trained or trained[0] < len(prompt_ids):
        return "not_a_prefix"
    reply = full.input_ids[len(prompt_ids):trained[-1] + 1]
    if not reply or reply[-1] not in set(contract.stop_token_ids):
        return "no_stop"
    return reply


def render_preferences(prefs: list[Preference], contract: Contract, tokenizer,
                       max_length: int | None = None) -> RenderedPreferences:
    """Every preference the parent's contract can train on, as ids; the rest counted by reason."""
    out = RenderedPreferences()
    specials = _specials(tokenizer)
    limit = max_length or contract.max_length
    for p in prefs:
        if p.persona and contract.persona_name and p.persona != contract.persona_name:
            out.skip("other_persona")
            continue
        if p.template and p.template != contract.template:
            out.skip("other_template")
            continue
        replies = [p.chosen, p.rejected] if p.paired else [p.completion]
        if any(not r.strip() for r in replies):
            out.skip("empty_reply")
            continue
        if p.paired and p.chosen.strip() == p.rejected.strip():
            out.skip("same_reply")
            continue
        if any(s in text for s in specials for text in (*replies, p.prompt)):
            out.skip("special_text")
            continue
        system = contract.system_for() if p.system is None else p.system
        history = list(p.history)
        prompt_ids = render(Conversation(system, [*history, (p.prompt, "")]), contract.template, tokenizer,
                            add_generation_prompt=True).input_ids
        ids = [_reply_ids(Conversation(system, [*history, (p.prompt, r)]), contract, tokenizer, prompt_ids)
               for r in replies]
        bad = next((x for x in ids if isinstance(x, str)), None)
        if bad:
            out.skip(bad)
            continue
        if len(prompt_ids) + max(len(x) for x in ids) > limit:
            out.skip("too_long")
            continue
        if p.paired:
            out.rows.append(PreferenceIds(prompt_ids, chosen_ids=ids[0], rejected_ids=ids[1]))
        else:
            out.rows.append(PreferenceIds(prompt_ids, completion_ids=ids[0], label=p.label))
        out.kept.append(p)
    return out
