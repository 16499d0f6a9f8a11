"""A template family is one record: adding one is a class and `register(...)`. A family made up in this file alone
renders through the one renderer, exports its Jinja and Ollama templates and is recognised in a tokenizer's own
template; the shipped families recognise themselves and stop on their own tokens."""
import pytest

from studio.data.conversations import Conversation
from studio.format import templates
from studio.format.render import render, stop_token_ids
from studio.format.templates import EOS, PROBE, Family, Piece, get_template, recognise, text_of
from tests.tiny_toks import chatml, l3, sp, with_template


class Bracket(Family):
    """A made-up format: [[system]] S\n[[user]] U\n[[bot]] A<eos>"""
    name = "bracket"
    jinja = ("{%- for m in messages -%}{%- if m['role'] == 'assistant' -%}{{ '[[bot]] ' + m['content'] + eos_token }}"
             "{%- else -%}{{ '[[' + m['role'] + ']] ' + m['content'] + '\n' }}{%- endif -%}{%- endfor -%}"
             "{%- if add_generation_prompt -%}{{ '[[bot]] ' }}{%- endif -%}")
    ollama = ("{{- if .System }}[[system]] {{ .System }}\n{{ end }}{{- range .Messages }}"
              "{{ if eq .Role \"user\" }}[[user]] {{ .Content }}\n{{ else if eq .Role \"assistant\" }}"
              "[[bot]] {{ .Content }}</s>{{ end }}{{- end }}[[bot]] ")

    def pieces(self, conv: Conversation, add_generation_prompt: bool = False, tokenizer=None) -> list[Piece]:
        out = [Piece("text", f"[[system]] {conv.system}\n", turn=0)] if conv.system else []
        for i, (user, answer) in enumerate(conv.turns):
            out.append(Piece("text", f"[[user]] {user}\n[[bot]] ", turn=i))
            if add_generation_prompt and i == len(conv.turns) - 1:
                break
            out += [Piece("text", answer, True, i), Piece("special", EOS, True, i)]
        return out


@pytest.fixture
def bracket():
    family = templates.register(Bracket())
    yield family
    del templates.TEMPLATES[family.name]


CONV = Conversation("お嬢様", [("元気？", "ええ、元気ですわ。"), ("好きな色は？", "紅色ですの。")])


def test_a_made_up_family_renders_exports_and_is_recognised(bracket):
    tok = sp()
    r = render(CONV, "bracket", tok)
    assert r.text == "[[system]] お嬢様\n[[user]] 元気？\n[[bot]] ええ、元気ですわ。</s>[[user]] 好きな色は？\n" \
                     "[[bot]] 紅色ですの。</s>"
    trained = [t for t, lab in zip(r.input_ids, r.labels) if lab != -100]
    assert trained.count(tok.eos_token_id) == 2 and trained[-1] == tok.eos_token_id
    assert "bracket" in templates.template_names()
    # the Jinja template renders what the Python renderer renders, with and without a generation prompt
    own = with_template(tok, bracket.jinja)
    assert own.apply_chat_template(CONV.messages(), tokenize=False) == r.text
    gen = render(CONV, "bracket", tok, add_generation_prompt=True).text
    assert own.apply_chat_template(CONV.messages(with_last_answer=False), tokenize=False,
                                   add_generation_prompt=True) == gen
    # the Ollama template, as a Modelfile would carry it
    assert bracket.ollama_template() == bracket.ollama
    assert bracket.stop_tokens() == [EOS]
    # a tokenizer whose own template is this format is recognised as this family
    text = render(PROBE, "model", own, add_generation_prompt=True).text
    assert recognise(text, own.bos_token or "", own.eos_token or "") == "bracket"


def test_names_are_unique():
    with pytest.raises(ValueError):
        templates.register(get_template("llama3").__class__())


def test_shipped_families_recognise_their_own_jinja():
    for name, tok in (("llama2", sp()), ("llama3", l3())):
        family = get_template(name)
        own = with_template(tok, family.jinja)
        text = own.apply_chat_template(PROBE.messages(with_last_answer=False), tokenize=False,
                                       add_generation_prompt=True)
        assert recognise(text, own.bos_token or "", own.eos_token or "") == name


def test_chatml_is_the_default_models_format():
    tok = chatml()
    text = render(PROBE, "model", tok, add_generation_prompt=True).text
    assert recognise(text, tok.bos_token or "", tok.eos_token or "") == "chatml"
    assert text == text_of(get_template("chatml").pieces(PROBE, True), "", "")
    assert "chatml" not in templates.template_names()  # recognised for export; training uses `model` for it


def test_stop_tokens_come_from_the_family():
    tok = l3()
    ids = stop_token_ids("llama3", tok)
    assert ids[0] == tok.convert_tokens_to_ids("<|eot_id|>")
    assert tok.convert_tokens_to_ids("<|end_of_text|>") in ids
    assert stop_token_ids("llama2", sp()) == [sp().eos_token_id]
