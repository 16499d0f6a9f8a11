"""English text for learning from votes: preference data, DPO and KTO runs, the Preferences view."""
PREFS: dict[str, str] = {
    'err.prefs.no_file': '{path}: no such preference file.',
    'err.prefs.bad_json': '{name} line {line} is not valid JSON. Fix or delete that line.',
    'err.prefs.unknown_shape': "{name} line {line}: expected 'prompt' with 'chosen' and 'rejected' (a pair), or "
                               "'prompt', 'completion' and a true/false 'label' (a rating); found: {found}.",
    'err.prefs.bad_messages': "{name} line {line}: messages must be objects with a role (system, user, assistant) "
                              "and a text content, the prompt ending on the user's turn.",
    'err.prefs.parent_unfinished': 'Run {run} is {state}: a preference run starts from a finished run with an '
                                   'adapter. Pick a finished run.',
    'err.prefs.other_base': 'Run {run} was trained on {base}, not on {model}: a preference run trains its parent\'s '
                            'adapter on the same base. Leave --model out.',
    'err.prefs.too_few': 'Only {n} usable preference(s); at least {need} are needed for a preference run. '
                         'Left out: {skipped}. Vote more in the Chat tab (blind A/B), or give a bigger file.',
    'err.prefs.one_label': 'KTO needs both good and bad replies; these preferences have only one kind. Add 👎 '
                           '(or 👍) ratings, or use A/B votes.',
    'cfg.parent_run': 'a preference run (dpo, kto) needs the run it starts from (--from RUN)',
    'cfg.preferences': 'a preference run (dpo, kto) needs a preference file (--preferences F.jsonl)',
    'cfg.beta': 'beta must be above 0',
    'cfg.loss_type': 'loss_type for {method} must be one of: {choices}',
    'prefs.kto_batch': 'KTO compares each reply with another in its batch: batch size raised to 2.',
    'prefs.skipped': 'Left out of training: {items}',
    'prefs.skipped_one': '{n} {why};',
    'prefs.skip.other_persona': 'voted on another persona',
    'prefs.skip.other_template': 'made with another template than the parent run',
    'prefs.skip.same_reply': 'chosen and rejected are the same',
    'prefs.skip.empty_reply': 'with an empty reply',
    'prefs.skip.special_text': "holding a special token's text",
    'prefs.skip.not_a_prefix': 'whose prompt is not a prefix of prompt + reply under the template',
    'prefs.skip.no_stop': 'whose reply does not end on the end-of-turn token',
    'prefs.skip.too_long': 'longer than max_length',
    'train.method': 'Method',
    'train.method_sft': 'SFT (the persona table)',
    'train.method_dpo': 'DPO (A/B votes)',
    'train.method_kto': 'KTO (👍/👎 and votes)',
    'train.parent_run': 'Start from run',
    'train.parent_hint': 'a finished run; its adapter is trained further and, frozen, is the reference',
    'train.preferences': 'Preference file',
    'train.beta': 'beta',
    'train.beta_hint': 'how far the run may move from its parent (higher: less)',
    'train.loss_type': 'loss type',
}
