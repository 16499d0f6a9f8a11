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


@lru_cache
def l3_joined_newlines():
    """The Llama-3-like tokenizer with one more merge, '\\n\\n' as a single token, as SmolLM2's and GPT-2's
    vocabularies have: with their byte-level split, a reply after the llama3 header's '\\n\\n' cuts it in two."""
    import json

    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    base = l3()
    spec = json.loads(base.backend_tokenizer.to_str())
    spec["model"]["vocab"]["ĊĊ"] = len(base)
    spec["model"]["merges"].insert(0, ["Ċ", "Ċ"])
    out = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
                                  bos_token=base.bos_token, eos_token=base.eos_token,
                                  additional_special_tokens=[s for s in tiny.LLAMA3_SPECIALS
                                                             if s not in (base.bos_token, base.eos_token)])
    out.chat_template = base.chat_template
    return out
