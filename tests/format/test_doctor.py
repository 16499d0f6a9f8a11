"""Each Doctor code: a real reproduction that makes it fire, and the clean case that does not."""
import pytest

from studio.data.conversations import Conversation
from studio.data.persona import Persona, QAPair
from studio.format.doctor import DoctorInput, diagnose
from studio.format.formatting import (
    FormatSettings,
    add_control_tokens,
    missing_control_tokens,
    render_persona,
    strip_literal_specials,
    suggested_max_length,
)
from studio.format.render import IGNORE, render
from tests.tiny_toks import chatml, l3, l3_joined_newlines, sp, sp_bos, with_template

PAIRS = [QAPair("ごきげんよう", "ごきげんよう、ですわ。"), QAPair("好きなものは？", "紅茶ですの。")]


def run(tok, template="llama2", pairs=PAIRS, max_length=512, system="お嬢様として答えて", **kw):
    res = render_persona(Persona(system_prompt=system, pairs=list(pairs)), tok,
                         FormatSettings(template=template, max_length=max_length), **kw)
    return res, {f.code: f for f in res.findings if f.severity != "info"}


def test_clean_cases_have_no_problems():
    for tok, template in ((sp(), "llama2"), (l3(), "llama3"), (chatml(), "model")):
        assert run(tok, template)[1] == {}, template


def test_eos_split_the_source_notes_bug_and_its_autofix():
    tok = sp()
    pairs = [QAPair("hi", "ごきげんよう</s>"), *PAIRS]
    res, f = run(tok, pairs=pairs)
    assert f["EOS_SPLIT"].rows == [1] and f["EOS_SPLIT"].severity == "error"
    assert "instead of its single id 2" in f["EOS_SPLIT"].message
    r = res.renders[0]
    assert r.labels[-1] == 2 and r.input_ids.count(2) == 1  # only the template's own EOS is the EOS id
    fixed, n = strip_literal_specials(Persona(pairs=pairs))
    assert n == 1 and fixed.pairs[0].answer == "ごきげんよう"
    assert "EOS_SPLIT" not in run(tok, pairs=fixed.pairs)[1]


def test_double_bos_in_the_rendered_ids():
    tmpl = ("{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}{{ bos_token + '[INST] ' + m.content + "
            "' [/INST]' }}{% elif m.role == 'assistant' %}{{ ' ' + m.content + ' ' + eos_token }}{% endif %}"
            "{% endfor %}")
    _, f = run(with_template(sp(), tmpl), "model", system="")
    assert f["DOUBLE_BOS"].severity == "error" and f["DOUBLE_BOS"].rows == [1, 2]


def test_double_bos_when_the_text_export_is_retokenized():
    _, f = run(sp_bos(), "llama2")
    assert f["DOUBLE_BOS"].severity == "warning" and "<s> <s>" in f["DOUBLE_BOS"].message
    assert "DOUBLE_BOS" not in run(sp(), "llama2")[1]


def test_eos_missing_when_the_chat_template_never_closes_a_reply():
    tmpl = ("{% for m in messages %}{{ m.role + ': ' + m.content + '\n' }}{% endfor %}"
            "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}")
    _, f = run(with_template(chatml(), tmpl), "model")
    assert f["EOS_MISSING"].rows == [1, 2] and "'\\n'" in f["EOS_MISSING"].message


def test_eos_masked_by_a_pad_equals_eos_collator():
    tok = sp()
    conv = Conversation("", [("hi", "ごきげんよう")], [1])
    r = render(conv, "llama2", tok)
    # what a collator that masks padding by id does when pad = eos (trainers set pad = eos when none exists)
    r.labels = [IGNORE if i == tok.eos_token_id else l for i, l in zip(r.input_ids, r.labels)]
    found = [x for x in diagnose(DoctorInput([conv], [r], "llama2", tok, 512)) if x.code == "EOS_MASKED"]
    assert found[0].severity == "error" and found[0].rows == [1]
    info = [x for x in run(tok)[0].findings if x.code == "EOS_MASKED"]
    assert info and info[0].severity == "info"  # sp() has no pad token
    assert not [x for x in run(chatml(), "model")[0].findings if x.code == "EOS_MASKED"]


def test_template_token_split_and_the_add_tokens_fix():
    tok = sp()
    res, f = run(tok, "llama3")
    assert f["TEMPLATE_TOKEN_SPLIT"].severity == "error" and "<|eot_id|>" in f["TEMPLATE_TOKEN_SPLIT"].message
    import copy
    fixed = copy.deepcopy(tok)
    assert add_control_tokens(fixed, missing_control_tokens(res)) == 3
    assert "TEMPLATE_TOKEN_SPLIT" not in run(fixed, "llama3")[1]


def test_boundary_drift_from_a_trailing_space_in_the_generation_prompt():
    tmpl = ("{% for m in messages %}{% if m.role == 'user' %}{{ 'User: ' + m.content + '\n' }}{% elif m.role == "
            "'assistant' %}{{ 'Assistant: ' + m.content + eos_token + '\n' }}{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}")
    _, f = run(with_template(sp(), tmpl), "model", pairs=[QAPair("hi", "question time")], system="")
    assert f["BOUNDARY_DRIFT"].rows == [1] and "prompt alone" in f["BOUNDARY_DRIFT"].message
    assert f["BOUNDARY_DRIFT"].fix.endswith("keep the boundary stable: llama2.")  # llama3's tokens are missing


def test_boundary_drift_under_llama3_recommends_only_templates_that_are_stable_for_this_tokenizer():
    # SmolLM2's vocabulary has '\n\n' as one token and its byte-level split cuts it in two before a reply: the
    # llama3 header's blank line drifts (issue 26: the fix used to tell this llama3 user to use llama3).
    _, f = run(l3_joined_newlines(), "llama3")
    drift = f["BOUNDARY_DRIFT"]
    assert drift.rows == [1, 2] and "['\\n\\n'] but the training text has ['\\n', '\\n']" in drift.message
    assert drift.fix.endswith("keep the boundary stable: llama2.")  # 'model' is llama3 itself here: not offered
    assert "BOUNDARY_DRIFT" not in run(l3_joined_newlines(), "llama2")[1]


def test_no_trained_tokens_when_replies_cannot_be_located():
    tmpl = ("{% for m in messages %}{% if loop.last %}[LAST]{% endif %}{{ m.role + ': ' + m.content + "
            "eos_token }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}")
    _, f = run(with_template(chatml(), tmpl), "model")
    assert f["NO_TRAINED_TOKENS"].rows == [1, 2] and "cannot be located" in f["NO_TRAINED_TOKENS"].message


def test_truncated_and_the_raise_max_length_fix():
    pairs = [QAPair("長い質問ですわ" * 10, "長い答えですわ" * 10), *PAIRS]
    res, f = run(sp(), pairs=pairs, max_length=48)
    assert f["TRUNCATED"].rows == [1] and f["TRUNCATED"].severity == "error"
    assert "TRUNCATED" not in run(sp(), pairs=pairs, max_length=suggested_max_length(res))[1]


def test_template_mismatch_against_the_models_own_template():
    _, f = run(chatml(), "llama2")
    assert f["TEMPLATE_MISMATCH"].rows == [1, 2] and "First difference in row 1" in f["TEMPLATE_MISMATCH"].message
    assert "TEMPLATE_MISMATCH" not in run(l3(), "llama3")[1]


@pytest.mark.parametrize("eos,gen_ids,fires", [("<|end_of_text|>", None, True), ("<|eot_id|>", None, False),
                                                 ("<|end_of_text|>", "eot", False)])
def test_stop_token(eos, gen_ids, fires, tmp_path):
    import json
    tok = l3(eos=eos)
    if gen_ids:   # the model folder's generation_config.json stops on both
        ids = [tok.eos_token_id, tok.convert_tokens_to_ids("<|eot_id|>")]
        (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": ids}))
    _, f = run(tok, "llama3", model=str(tmp_path))
    assert ("STOP_TOKEN" in f) is fires
    if fires:
        assert "'<|eot_id|>'" in f["STOP_TOKEN"].message and "'<|end_of_text|>'" in f["STOP_TOKEN"].message


def test_autofixes_are_data_the_ui_and_cli_can_apply():
    """Each Doctor auto-fix as a pure function: literal specials stripped from the rows, control tokens added to a
    copy of the tokenizer, max length raised, or the model's own template chosen."""
    from studio.data.persona import Persona, QAPair
    from studio.format.formatting import FormatSettings, apply_autofix, render_persona
    persona = Persona(pairs=[QAPair("q", "ごきげんよう</s>"), QAPair("長い質問" * 40, "a")])
    tok = sp()
    res = render_persona(persona, tok, FormatSettings("llama2", 64))
    codes = {f.code for f in res.findings}
    assert {"EOS_SPLIT", "TRUNCATED"} <= codes
    fixed = apply_autofix("EOS_SPLIT", res, persona, "llama2", 64, tok, [])
    assert fixed.persona.pairs[0].answer == "ごきげんよう" and persona.pairs[0].answer.endswith("</s>")
    raised = apply_autofix("TRUNCATED", res, persona, "llama2", 64, tok, [])
    assert raised.persona is None and raised.max_length > 64 and raised.max_length % 64 == 0
    assert apply_autofix("TEMPLATE_MISMATCH", res, persona, "llama2", 64, tok, []).template == "model"
    l3res = render_persona(persona, tok, FormatSettings("llama3", 512))
    added = apply_autofix("TEMPLATE_TOKEN_SPLIT", l3res, persona, "llama3", 512, tok, [])
    assert "<|eot_id|>" in added.added and "<|eot_id|>" in added.tokenizer.get_vocab()
    assert "<|eot_id|>" not in tok.get_vocab()  # the loaded tokenizer is left as it was


# Meta's first Meta-Llama-3-8B-Instruct chat template: the assistant header is appended unconditionally.
META_LLAMA3_FIRST = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
                     "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
                     "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
                     "{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}")


def test_a_template_that_ignores_add_generation_prompt_is_not_a_mismatch():
    from studio.format.doctor import ignores_generation_prompt
    tok = with_template(l3(), META_LLAMA3_FIRST)
    assert ignores_generation_prompt(tok) == "<|start_header_id|>assistant<|end_header_id|>\n\n"
    assert ignores_generation_prompt(l3()) == ""
    res, f = run(tok, "llama3")
    assert "TEMPLATE_MISMATCH" not in f, f["TEMPLATE_MISMATCH"].message
    f = {x.code: x for x in res.findings}
    assert f["TEMPLATE_GEN_HEADER"].severity == "info" and "keep the llama3 template" in f["TEMPLATE_GEN_HEADER"].fix
    _, f = run(with_template(chatml(), META_LLAMA3_FIRST), "llama2")  # a real difference is still reported
    assert "TEMPLATE_MISMATCH" in f


def test_an_empty_answer_is_an_error_naming_its_row():
    """An empty answer renders as a trained empty reply (end-of-turn right after the prompt); the Format tab said
    'errors 0' for it before."""
    pairs = [*PAIRS, QAPair("趣味は？", "  ")]
    _, f = run(sp(), "llama2", pairs=pairs)
    assert f["EMPTY_ANSWER"].severity == "error" and f["EMPTY_ANSWER"].rows == [3]
    assert "row 3" in f["EMPTY_ANSWER"].message and "EMPTY_ANSWER" not in run(sp(), "llama2")[1]


def test_a_persona_of_single_questions_only_gets_the_multi_turn_hint():
    singles = [QAPair(f"質問{i}", "ですわ。") for i in range(20)]
    res, _ = run(sp(), "llama2", pairs=singles)
    hint = next(f for f in res.findings if f.code == "NO_MULTI_TURN")
    assert hint.severity == "info" and "20 rows" in hint.message and "dialog_id" in hint.fix
    assert "会話" in hint.localized("ja")[0]
    talk = [*singles[:18], QAPair("お茶にしない？", "喜んで。", dialog_id="d1"),
            QAPair("お砂糖は？", "一つですの。", dialog_id="d1")]
    assert "NO_MULTI_TURN" not in {f.code for f in run(sp(), "llama2", pairs=talk)[0].findings}
    assert "NO_MULTI_TURN" not in {f.code for f in run(sp(), "llama2", pairs=singles[:19])[0].findings}
