"""Exact strings for both templates and exact label masks on tokenizers built in the tests."""
from studio.data.conversations import Conversation, system_with_context
from studio.format.render import IGNORE, generation_prompt_ids, render, stop_token_ids
from studio.format.templates import get_template, text_of
from tests.tiny_toks import chatml, l3, sp

ONE = Conversation("SYS", [("U1", "A1")], [1])
TWO = Conversation("SYS", [("U1", "A1"), ("U2", "A2")], [1, 2])
NOSYS = Conversation("", [("U1", "A1")], [1])


def s(conv, name, gen=False, bos="<s>", eos="</s>"):
    return text_of(get_template(name).pieces(conv, gen), bos, eos)


def test_llama2_exact_strings():
    assert s(ONE, "llama2") == "<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nU1 [/INST] A1 </s>"
    assert s(TWO, "llama2") == "<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST] A2 </s>"
    assert s(NOSYS, "llama2") == "<s>[INST] U1 [/INST] A1 </s>"
    assert s(TWO, "llama2", gen=True) == \
        "<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]"


def test_llama3_exact_strings():
    b, e = "<|begin_of_text|>", "<|eot_id|>"
    h = lambda r: f"<|start_header_id|>{r}<|end_header_id|>\n\n"  # noqa: E731
    assert s(ONE, "llama3", bos=b, eos=e) == f"{b}{h('system')}SYS{e}{h('user')}U1{e}{h('assistant')}A1{e}"
    assert s(NOSYS, "llama3", bos=b, eos=e) == f"{b}{h('user')}U1{e}{h('assistant')}A1{e}"
    assert s(TWO, "llama3", gen=True, bos=b, eos=e) == \
        f"{b}{h('system')}SYS{e}{h('user')}U1{e}{h('assistant')}A1{e}{h('user')}U2{e}{h('assistant')}"


def test_context_goes_into_the_system_part():
    assert system_with_context("SYS", "notes", "ctx") == "SYS\n\n[参考情報]\nnotes\nctx"
    assert system_with_context("SYS", "", "") == "SYS"
    assert system_with_context("", "", "ctx") == "[参考情報]\nctx"


def shown(tok, r):
    """Tokens as text, trained ones in brackets."""
    return " ".join(f"[{t}]" if l != IGNORE else t for t, l in zip(tok.convert_ids_to_tokens(r.input_ids), r.labels))


def test_llama2_mask_on_sentencepiece_style():
    tok = sp()
    r = render(Conversation("", [("こんにちは", "ごきげんよう")], [1]), "llama2", tok)
    assert r.input_ids[0] == tok.bos_token_id and r.input_ids[-1] == tok.eos_token_id == 2
    assert r.labels[-1] == 2  # EOS is trained, as an id
    trained = [t for t, l in zip(tok.convert_ids_to_tokens(r.input_ids), r.labels) if l != IGNORE]
    assert "".join(trained).replace("▁", " ") == " ごきげんよう </s>"
    assert all(l == IGNORE for l in r.labels[:r.turn_spans[0][0]])
    assert tok.decode(r.input_ids) == "<s> [INST] こんにちは [/INST] ごきげんよう </s>"


def test_llama3_mask_on_byte_level():
    tok = l3()
    r = render(Conversation("S", [("hi", "Hello"), ("more", "Paris")], [1, 2]), "llama3", tok)
    eot = tok.convert_tokens_to_ids("<|eot_id|>")
    trained = [(tid, t) for tid, t, l in zip(r.input_ids, r.token_text, r.labels) if l != IGNORE]
    assert "".join(t for _, t in trained) == "Hello<|eot_id|>Paris<|eot_id|>"
    assert [tid for tid, _ in trained].count(eot) == 2
    last = render(Conversation("S", [("hi", "Hello"), ("more", "Paris")], [1, 2]), "llama3", tok, train_on="last")
    assert "".join(t for t, l in zip(last.token_text, last.labels) if l != IGNORE) == "Paris<|eot_id|>"
    everything = render(ONE, "llama3", tok, train_on="all")
    assert IGNORE not in everything.labels


def test_model_template_chatml():
    tok = chatml()
    r = render(Conversation("S", [("hi", "Hello")], [1]), "model", tok)
    assert r.text == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n" \
                     "Hello<|im_end|>\n"
    assert "".join(t for t, l in zip(r.token_text, r.labels) if l != IGNORE) == "Hello<|im_end|>"
    assert stop_token_ids("model", tok) == [tok.convert_tokens_to_ids("<|im_end|>")]


def test_generation_prompt_is_the_training_prefix():
    for name, tok in (("llama2", sp()), ("llama3", l3()), ("model", chatml())):
        conv = Conversation("S", [("hi", "Hello")], [1])
        full = render(conv, name, tok).input_ids
        prompt = generation_prompt_ids(conv, name, tok)
        assert full[:len(prompt)] == prompt and len(prompt) < len(full), name


def test_llama3_stop_tokens_include_eot_and_eos():
    tok = l3(eos="<|end_of_text|>")
    assert stop_token_ids("llama3", tok) == [tok.convert_tokens_to_ids("<|eot_id|>"), tok.eos_token_id]


def test_truncation_keeps_max_length():
    r = render(Conversation("", [("q " * 50, "a " * 50)], [1]), "llama2", sp(), max_length=16)
    assert len(r.input_ids) == len(r.labels) == 16 and r.truncated and r.full_length > 16


def test_jinja_chat_templates_render_exactly_like_ours():
    """A merged model's tokenizer gets these; other tools must see the trained format."""
    from studio.format.templates import chat_template_jinja
    from tests.tiny_toks import with_template
    for name, tok in (("llama2", sp()), ("llama3", l3())):
        t = with_template(tok, chat_template_jinja(name))
        for conv in (ONE, TWO, NOSYS):
            ours = render(conv, name, tok).text
            theirs = t.apply_chat_template(conv.messages(), tokenize=False)
            assert theirs == ours, name
            gen = render(conv, name, tok, add_generation_prompt=True).text
            assert t.apply_chat_template(conv.messages(with_last_answer=False), tokenize=False,
                                         add_generation_prompt=True) == gen


def test_every_family_gives_its_pieces_through_one_method_the_model_family_with_the_tokenizer():
    """The 'model' family keeps its base's contract: `pieces(conv, gen, tokenizer)` renders the tokenizer's own
    template (what the renderer uses), and says plainly that it needs the tokenizer when given none."""
    import pytest

    from studio.format.model_pieces import model_template_pieces
    from studio.format.render import pieces_for
    tok = chatml()
    conv = Conversation("S", [("U", "A"), ("V", "")])
    model = get_template("model")
    assert model.pieces(conv, True, tok) == model_template_pieces(conv, tok, True) == pieces_for(conv, "model", tok,
                                                                                                  True)
    assert any(p.trained for p in model.pieces(Conversation("S", [("U", "A")]), False, tok))
    with pytest.raises(TypeError, match="tokenizer"):
        model.pieces(conv, True)
    assert get_template("llama3").pieces(conv, True, tok) == get_template("llama3").pieces(conv, True)
