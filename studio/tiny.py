"""Tiny offline tokenizers and models for tests, benchmarks and demos (no hub, no downloads).

- sentencepiece_style(): BPE with byte fallback, Metaspace prefix space, <unk>/<s>/</s> = 0/1/2 (Llama-2-like).
- llama3_style(): byte-level BPE with Llama-3 control tokens; eos <|eot_id|> or <|end_of_text|>.
- chatml_style(): byte-level BPE with <|im_start|>/<|im_end|> and a ChatML chat_template (SmolLM2-like).
- gemma_style(): a Gemma-like tokenizer: <pad>/<eos>/<bos>/<unk> = 0/1/2/3, BOS added, turn markers, unused rows.
- tiny_llama(tokenizer): a random LlamaForCausalLM sized for the CPU (imports torch lazily).
- tiny_gemma3(tokenizer): a random Gemma3ForCausalLM (tied embeddings, sliding and full attention layers); with
  untrained_eot=True its <end_of_turn> row sits among near-identical unused rows, as in Gemma 3 270M base.
"""
from __future__ import annotations

import json
from pathlib import Path

CORPUS_FILE = Path(__file__).resolve().parents[1] / "data" / "personas" / "ayano" / "pairs.csv"
ENGLISH = ["The capital of France is Paris.", "Hello, how are you today?", "I like tea and cake.",
           "system user assistant", "Answer the question briefly.", "[INST] <<SYS>> <</SYS>> [/INST]"]
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                   "<|eot_id|>", "<|finetune_right_pad_id|>"]
CHATML_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
                   "+ '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
                   "{% endif %}")
LLAMA3_TEMPLATE = ("{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
                   "'<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}{% endfor %}"
                   "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")


def _corpus() -> list[str]:
    lines = CORPUS_FILE.read_text(encoding="utf-8").splitlines() if CORPUS_FILE.exists() else []
    return lines + ENGLISH * 20


def _trained_bpe(pre_tokenizer, vocab_size: int, initial_alphabet: list[str] | None = None):
    from tokenizers import Tokenizer, models, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.train_from_iterator(_corpus(), trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                                           initial_alphabet=initial_alphabet or []))
    model = json.loads(tok.to_str())["model"]
    return model["vocab"], [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]


def _byte_fallback_bpe(split, vocab_size: int, first: list[str], unk: str):
    """BPE with byte fallback: the `first` tokens (ids 0..), byte tokens <0x00>..<0xFF>, then learned pieces."""
    from tokenizers import Tokenizer, models
    learned, merges = _trained_bpe(split, vocab_size)
    vocab = {t: i for i, t in enumerate(first)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece in sorted(learned, key=learned.get):
        vocab.setdefault(piece, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=unk, byte_fallback=True))
    tok.pre_tokenizer = split
    return tok


def sentencepiece_style(vocab_size: int = 600, add_bos: bool = False):
    """A Llama-2-like tokenizer: <unk>=0, <s>=1, </s>=2, byte tokens <0x00>..<0xFF>, then learned pieces.
    add_bos=True adds <s> whenever text is encoded with special tokens, as Llama-2's own tokenizer does."""
    from tokenizers import decoders, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    meta = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok = _byte_fallback_bpe(meta, vocab_size, ["<unk>", "<s>", "</s>"], "<unk>")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                           special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def _byte_level(specials: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    learned, merges = _trained_bpe(byte_level, vocab_size, pre_tokenizers.ByteLevel.alphabet())
    vocab = {}
    for piece in sorted(learned, key=learned.get):
        vocab.setdefault(piece, len(vocab))
    for s in specials:
        vocab[s] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    return tok


def llama3_style(eos: str = "<|eot_id|>", chat_template: bool = True, vocab_size: int = 700):
    from transformers import PreTrainedTokenizerFast
    tok = _byte_level(LLAMA3_SPECIALS, vocab_size)
    out = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token=eos,
                                  additional_special_tokens=[s for s in LLAMA3_SPECIALS
                                                             if s not in ("<|begin_of_text|>", eos)])
    if chat_template:
        out.chat_template = LLAMA3_TEMPLATE
    return out


def chatml_style(vocab_size: int = 700, chat_template: str | None = CHATML_TEMPLATE):
    from transformers import PreTrainedTokenizerFast
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = _byte_level(specials, vocab_size)
    out = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", unk_token="<|endoftext|>",
                                  additional_special_tokens=specials)
    if chat_template:
        out.chat_template = chat_template
    return out


GEMMA_TURNS = ["<start_of_turn>", "<end_of_turn>"]
GEMMA_UNUSED = 40


def gemma_style(vocab_size: int = 600, chat_template: str | None = None):
    """A Gemma-like tokenizer (BPE with byte fallback, no prefix space): <pad>=0, <eos>=1, <bos>=2, <unk>=3, the turn
    markers as special tokens, <unused0..39>; BOS added when encoding with special tokens, as Gemma's own does."""
    from tokenizers import decoders, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    split = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
    tok = _byte_fallback_bpe(split, vocab_size, ["<pad>", "<eos>", "<bos>", "<unk>", *GEMMA_TURNS,
                                                 *(f"<unused{i}>" for i in range(GEMMA_UNUSED))], "<unk>")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A <bos> $B",
                                                       special_tokens=[("<bos>", 2)])
    out = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>",
                                  pad_token="<pad>", additional_special_tokens=GEMMA_TURNS)
    if chat_template:
        out.chat_template = chat_template
    return out


def tiny_gemma3(tokenizer, hidden_size: int = 64, layers: int = 2, seed: int = 0, untrained_eot: bool = False):
    """A random Gemma3ForCausalLM whose vocabulary fits `tokenizer` (tied embeddings, as Gemma 3 ships; Gemma's own
    layer pattern, every 6th layer global; heads of 256 as in every Gemma 3 below 27B; a 16-token sliding window so
    that short prompts already use it)."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    config = Gemma3TextConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                              num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=1, head_dim=256,
                              query_pre_attn_scalar=256, sliding_window=16, max_position_embeddings=512,
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    model = Gemma3ForCausalLM(config)
    if untrained_eot:
        emb = model.get_input_embeddings().weight
        rows = [tokenizer.convert_tokens_to_ids(t) for t in ["<end_of_turn>"]
                + [f"<unused{i}>" for i in range(GEMMA_UNUSED)]]
        with torch.no_grad():
            shared = emb[rows].mean(0)
            emb[rows] = shared + 1e-4 * torch.randn(len(rows), emb.shape[1])
    return model


def tiny_llama(tokenizer, hidden_size: int = 64, layers: int = 2, seed: int = 0):
    """A random LlamaForCausalLM whose vocabulary fits `tokenizer`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=False)
    return LlamaForCausalLM(config)


def save_tiny_model(folder: str | Path, kind: str = "chatml", hidden_size: int = 64, layers: int = 2) -> Path:
    """Write a tokenizer + random tiny Llama into `folder` (a stand-in for a downloaded model)."""
    tok = {"chatml": chatml_style, "llama3": llama3_style, "sentencepiece": sentencepiece_style,
           "gemma": gemma_style}[kind]()
    folder = Path(folder)
    model = tiny_gemma3(tok, hidden_size, layers) if kind == "gemma" else tiny_llama(tok, hidden_size, layers)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
