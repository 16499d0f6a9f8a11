"""Gemma 3 end to end on tiny Gemma-3-shaped models built in-process: the template families (exact strings, their
Jinja and Ollama forms), the untrained-stop-token finding reproduced from the embedding (and its auto-fix)."""
import json

import pytest

from studio import tiny
from studio.data.conversations import Conversation
from studio.data.persona import Persona, QAPair
from studio.format.formatting import FormatSettings, apply_autofix, autofix_applies, render_persona
from studio.format.render import render, stop_token_ids
from studio.format.templates import PROBE, get_template, recognise
from tests.tiny_toks import with_template

CONV = Conversation("お嬢様として答えて",
                    [("ごきげんよう", "ごきげんよう、ですわ。"), ("好きなものは？", "紅茶ですの。")])
PERSONA = Persona(system_prompt="お嬢様として答えて",
                  pairs=[QAPair("ごきげんよう", "ごきげんよう、ですわ。"), QAPair("好きなものは？", "紅茶ですの。")])
# google/gemma-3-*-it's own chat_template (tokenizer_config.json), verbatim
GOOGLE = json.loads('"{{ bos_token }}\\n{%- if messages[0][\'role\'] == \'system\' -%}\\n    {%- if messages[0][\'content\'] is string -%}\\n        {%- set first_user_prefix = messages[0][\'content\'] + \'\\n\\n\' -%}\\n    {%- else -%}\\n        {%- set first_user_prefix = messages[0][\'content\'][0][\'text\'] + \'\\n\\n\' -%}\\n    {%- endif -%}\\n    {%- set loop_messages = messages[1:] -%}\\n{%- else -%}\\n    {%- set first_user_prefix = \\"\\" -%}\\n    {%- set loop_messages = messages -%}\\n{%- endif -%}\\n{%- for message in loop_messages -%}\\n    {%- if (message[\'role\'] == \'user\') != (loop.index0 % 2 == 0) -%}\\n        {{ raise_exception(\\"Conversation roles must alternate user/assistant/user/assistant/...\\") }}\\n    {%- endif -%}\\n    {%- if (message[\'role\'] == \'assistant\') -%}\\n        {%- set role = \\"model\\" -%}\\n    {%- else -%}\\n        {%- set role = message[\'role\'] -%}\\n    {%- endif -%}\\n    {{ \'<start_of_turn>\' + role + \'\\n\' + (first_user_prefix if loop.first else \\"\\") }}\\n    {%- if message[\'content\'] is string -%}\\n        {{ message[\'content\'] | trim }}\\n    {%- elif message[\'content\'] is iterable -%}\\n        {%- for item in message[\'content\'] -%}\\n            {%- if item[\'type\'] == \'image\' -%}\\n                {{ \'<start_of_image>\' }}\\n            {%- elif item[\'type\'] == \'text\' -%}\\n                {{ item[\'text\'] | trim }}\\n            {%- endif -%}\\n        {%- endfor -%}\\n    {%- else -%}\\n        {{ raise_exception(\\"Invalid content type\\") }}\\n    {%- endif -%}\\n    {{ \'<end_of_turn>\\n\' }}\\n{%- endfor -%}\\n{%- if add_generation_prompt -%}\\n    {{\'<start_of_turn>model\\n\'}}\\n{%- endif -%}\\n"')  # noqa: E501


@pytest.fixture(scope="module")
def tok():
    return tiny.gemma_style()


@pytest.mark.parametrize("name,close", [("gemma", "<end_of_turn>"), ("gemma-eos", "<eos>")])
def test_gemma_turns_exactly(tok, name, close):
    r = render(CONV, name, tok)
    assert r.text == ("<bos><start_of_turn>user\nお嬢様として答えて\n\nごきげんよう<end_of_turn>\n"
                      f"<start_of_turn>model\nごきげんよう、ですわ。{close}\n<start_of_turn>user\n"
                      f"好きなものは？<end_of_turn>\n<start_of_turn>model\n紅茶ですの。{close}\n")
    assert not r.split_controls and r.input_ids.count(tok.bos_token_id) == 1
    trained = [t for t, lab in zip(r.input_ids, r.labels) if lab != -100]
    stop = tok.convert_tokens_to_ids(close)
    assert trained.count(stop) == 2 and trained[-1] == stop           # each reply ends on its stop token
    assert stop_token_ids(name, tok)[0] == stop
    own = with_template(tok, get_template(name).jinja)                 # merged models carry the same format
    assert own.apply_chat_template(CONV.messages(), tokenize=False) == r.text
    gen = render(CONV, name, tok, add_generation_prompt=True).text
    assert own.apply_chat_template(CONV.messages(with_last_answer=False), tokenize=False,
                                   add_generation_prompt=True) == gen
    ollama = get_template(name).ollama_template()
    assert f"{{{{ .Content }}}}{close}\n" in ollama and ollama.endswith("<start_of_turn>model\n")
    assert get_template(name).ollama_template(add_bos=False).startswith("<bos>")


def test_googles_own_template_is_recognised_as_gemma(tok):
    own = with_template(tok, GOOGLE)
    text = render(PROBE, "model", own, add_generation_prompt=True).text
    assert recognise(text, "<bos>", "<eos>") == "gemma"
    assert render(CONV, "model", own).text == render(CONV, "gemma", tok).text


@pytest.fixture(scope="module")
def gemma_dirs(tmp_path_factory, tok):
    """Two tiny Gemma 3 folders: one whose <end_of_turn> row sits among 40 near-identical unused rows (as in
    Gemma 3 270M base), one where every row is its own (random init)."""
    out = {}
    for name, untrained in (("untrained", True), ("trained", False)):
        d = tmp_path_factory.mktemp(name)
        tiny.tiny_gemma3(tok, untrained_eot=untrained).save_pretrained(d)
        tok.save_pretrained(d)
        out[name] = str(d)
    return out


def codes(res):
    return {f.code: f for f in res.findings}


def test_untrained_stop_token_is_found_by_its_embedding_and_fixed(tok, gemma_dirs):
    res = render_persona(PERSONA, tok, FormatSettings("gemma"), gemma_dirs["untrained"])
    f = codes(res)["UNTRAINED_STOP"]
    assert f.severity == "error" and "'<end_of_turn>'" in f.message and "gemma-eos" in f.fix and f.rows == [1, 2]
    assert autofix_applies("UNTRAINED_STOP", "gemma") and not autofix_applies("UNTRAINED_STOP", "llama3")
    fixed = apply_autofix("UNTRAINED_STOP", res, PERSONA, "gemma", 512, tok, [])
    assert fixed.template == "gemma-eos"
    again = render_persona(PERSONA, tok, FormatSettings(fixed.template), gemma_dirs["untrained"])
    assert "UNTRAINED_STOP" not in codes(again) and not [f for f in again.findings if f.severity == "error"]
    # the same template on a model that did learn its end-of-turn row: nothing to say; without a model folder
    # (a hub id) the check is skipped, never a refusal
    assert "UNTRAINED_STOP" not in codes(render_persona(PERSONA, tok, FormatSettings("gemma"), gemma_dirs["trained"]))
    assert "UNTRAINED_STOP" not in codes(render_persona(PERSONA, tok, FormatSettings("gemma"), "google/gemma-3-1b-it"))
