"""Tokenizers built once per test session (training a tiny BPE takes ~0.3 s)."""
from functools import lru_cache

from studio import tiny


@lru_cache
def sp():
    return tiny.sentencepiece_style()


@lru_cache
def l3(eos="<|eot_id|>", chat_template=True):
    return tiny.llama3_style(eos=eos, chat_template=chat_template)


@lru_cache
def chatml():
    return tiny.chatml_style()


@lru_cache
def sp_bos():
    return tiny.sentencepiece_style(add_bos=True)


def with_template(tok, template: str):
    """A copy of `tok` with another chat_template (copies keep the cached tokenizers intact)."""
    import copy
    t = copy.deepcopy(tok)
    t.chat_template = template
    return t
