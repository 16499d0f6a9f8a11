"""Read a written GGUF back with transformers (gguf_file=) and check it against the merged model before it is
published: metadata (special ids, add_bos), the embedded chat template, tokenization, logits and stopping.
Heavy imports stay inside."""
from __future__ import annotations

from pathlib import Path

from studio.data.conversations import Conversation
from studio.export.checks import Check, Verification
from studio.format.contract import Contract
from studio.locale import T

# Largest |logit difference| allowed, relative to the largest |logit| of the merged model on the same prompt.
# Measured (python -m bench.bench_export, embedded default model SmolLM2-135M, CPU): f16 0.0011, bf16 0.0073,
# q8_0 0.035, q4_0 0.66 (top-1 agreement 0.62: too coarse for a 135M model, so that export is refused); tiny test
# models: q4_0 0.03-0.16. A wrong tensor layout or vocabulary scrambles the logits (near 1.0).
RELATIVE_TOLERANCE = {"f16": 0.01, "bf16": 0.05, "q8_0": 0.15, "q4_0": 0.35}
# The stop check generates greedily with both models, so it is bounded three ways: a character that rarely stops
# makes every reply run to the token limit (an under-trained one held a busy laptop for 28 minutes at 8 prompts).
STOP_CHECK_TOKENS = 48
STOP_CHECK_PROMPTS = 4
STOP_CHECK_SECONDS = 120.0


def _no_progress(fraction: float, message) -> None:
    """The default progress report: none."""


def gguf_fields(path: Path) -> dict:
    """The scalar metadata of a GGUF (ids, flags, names, chat template)."""
    import gguf
    reader = gguf.GGUFReader(str(path))
    out = {}
    for name, f in reader.fields.items():
        if name.startswith("tokenizer.ggml.") and name.split(".")[-1] in ("tokens", "scores", "token_type", "merges"):
            continue
        try:
            out[name] = f.contents()
        except Exception:  # noqa: BLE001 - a field type we do not read
            continue
    return out


def _metadata_check(fields: dict, contract: Contract, merged_tok) -> Check:
    ids = {fields.get("tokenizer.ggml.eos_token_id"), fields.get("tokenizer.ggml.eot_token_id")} - {None}
    want_eot = contract.stop_token_ids[0] if contract.stop_token_ids else merged_tok.eos_token_id
    problems = []
    if want_eot not in ids:
        problems.append(T("export.c.eot_missing", id=want_eot, ids=sorted(ids)))
    if fields.get("tokenizer.ggml.bos_token_id") != merged_tok.bos_token_id:
        problems.append(T("export.c.bos", got=fields.get("tokenizer.ggml.bos_token_id"), want=merged_tok.bos_token_id))
    ok = T("export.c.metadata_ok", ids=sorted(ids), bos=fields.get("tokenizer.ggml.bos_token_id"),
           add_bos=fields.get("tokenizer.ggml.add_bos_token"))
    return Check("metadata", not problems, problems[0] if problems else ok)


def _template_check(convs: list[Conversation], contract: Contract, merged_tok, gguf_tok) -> Check:
    """The file's own chat template must render every training conversation (and each generation prompt) exactly
    as the studio rendered it for training."""
    from studio.format.render import pieces_for
    from studio.format.templates import text_of

    bos, eos = merged_tok.bos_token or "", merged_tok.eos_token or ""
    for n, conv in enumerate(convs, start=1):
        for gen in (False, True):
            want = text_of(pieces_for(conv, contract.template, merged_tok, gen), bos, eos)
            msgs = conv.messages(with_last_answer=not gen)
            try:
                got = gguf_tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
            except Exception as e:  # noqa: BLE001 - a broken template is what this check is for
                return Check("template", False, T("export.c.template_error", n=n, reason=str(e)[:200]))
            if got != want:
                at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                return Check("template", False, T("export.c.template_differs", n=n, gen=" (generation prompt)"
                                                  if gen else "", at=at, got=got[at:at + 40], want=want[at:at + 40]))
    return Check("template", True, T("export.c.template_ok", n=len(convs)))


def _tokenization_check(texts: list[str], merged_tok, gguf_tok) -> Check:
    for n, text in enumerate(texts, start=1):
        a = merged_tok(text, add_special_tokens=False)["input_ids"]
        b = gguf_tok(text, add_special_tokens=False)["input_ids"]
        if a != b:
            at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            return Check("tokenization", False, T("export.c.tok_differs", n=n, at=at, a=a[at:at + 5], b=b[at:at + 5]))
    return Check("tokenization", True, T("export.c.tok_ok", n=len(texts)))


def verify_gguf(path: Path, merged_dir: Path, quant: str, contract: Contract, convs: list[Conversation],
                questions: list[str], trained_tokenizer_dir: Path | None = None, progress=_no_progress,
                stop_seconds: float | None = None) -> Verification:
    """trained_tokenizer_dir: the tokenizer training rendered with (the run's adapter folder), so that a template
    changed after training is caught rather than compared with itself. progress(fraction, Text | None) is called
    at each step and each generated token (None: only a chance to stop)."""
    from transformers import AutoTokenizer

    from studio.core.models import load_model
    from studio.format.templates import text_of

    result = Verification()
    progress(0.0, T("export.v.reading"))
    merged_tok = AutoTokenizer.from_pretrained(merged_dir)
    trained_tok = AutoTokenizer.from_pretrained(trained_tokenizer_dir) if trained_tokenizer_dir else merged_tok
    gguf_tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    result.checks.append(_metadata_check(gguf_fields(path), contract, merged_tok))
    progress(0.05, T("export.v.template", n=len(convs)))
    result.checks.append(_template_check(convs, contract, trained_tok, gguf_tok))
    from studio.format.render import pieces_for
    bos, eos = merged_tok.bos_token or "", merged_tok.eos_token or ""
    texts = [text_of(pieces_for(c, contract.template, merged_tok), bos, eos) for c in convs] + questions
    result.checks.append(_tokenization_check(texts, merged_tok, gguf_tok))

    # both in fp32 on the CPU: the check compares the file's numbers with the merged model's, not two devices
    progress(0.1, T("export.v.loading"))
    merged = load_model(merged_dir, dtype="fp32", on="cpu")
    model = load_model(path.parent, dtype="fp32", on="cpu", gguf_file=path.name)
    result.checks.append(_logits_check(merged, model, merged_tok, contract, quant, questions,
                                       lambda f, m: progress(0.3 + 0.1 * f, m)))
    replies: dict[str, tuple[str, bool]] = {}
    result.checks.append(_stops_check(merged, model, merged_tok, contract, questions[:STOP_CHECK_PROMPTS],
                                      STOP_CHECK_SECONDS if stop_seconds is None else stop_seconds,
                                      lambda f, m: progress(0.4 + 0.45 * f, m), replies))
    del merged, model
    from studio.export.llamacpp_check import llamacpp_check
    result.checks.append(llamacpp_check(path, replies, STOP_CHECK_TOKENS,
                                        progress=lambda f, m: progress(0.85 + 0.15 * f, m)))
    return result


def _prompt_ids(contract: Contract, question: str, tok):
    import torch

    from studio.format.render import generation_prompt_ids
    return torch.tensor([generation_prompt_ids(contract.conversation([], question), contract.template, tok)])


def _logits_check(merged, model, tok, contract: Contract, quant: str, questions: list[str], progress) -> Check:
    import torch
    worst = 0.0
    for n, q in enumerate(questions, start=1):
        progress((n - 1) / max(len(questions), 1), T("export.v.logits", n=n, total=len(questions)))
        ids = _prompt_ids(contract, q, tok)
        with torch.no_grad():
            a, b = merged(ids).logits, model(ids).logits
        worst = max(worst, float((a - b).abs().max() / a.abs().max().clamp_min(1e-6)))
    tol = RELATIVE_TOLERANCE[quant]
    return Check("logits", worst <= tol, T("export.c.logits", worst=f"{worst:.4f}", tol=tol, quant=quant,
                                           n=len(questions)))


def _stops_check(merged, model, tok, contract: Contract, questions: list[str], seconds: float, progress,
                 replies: dict[str, tuple[str, bool]] | None = None) -> Check:
    """Greedy replies of both models to the same prompts: the file must end its turn at least as often. Only
    prompts both models answered within the time budget count; with none, the check says it was not run.
    replies, when given, receives the merged model's (text, ended its turn) per counted prompt."""
    import time

    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    stop = list(contract.stop_token_ids) or [tok.eos_token_id]
    deadline = time.monotonic() + seconds
    state = {"frac": 0.0}

    class _Watch(StoppingCriteria):
        """Each token: a chance to honour Stop, and the budget's end."""
        def __call__(self, input_ids, scores, **kwargs):   # one flag per row (a BoolTensor)
            progress(state["frac"], None)
            return torch.full((input_ids.shape[0],), time.monotonic() > deadline, dtype=torch.bool,
                              device=input_ids.device)

    kw = dict(max_new_tokens=STOP_CHECK_TOKENS, do_sample=False, eos_token_id=stop,
              pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else stop[0],
              stopping_criteria=StoppingCriteriaList([_Watch()]))
    done = stops_ref = stops_got = 0
    for n, q in enumerate(questions, start=1):
        state["frac"] = (n - 1) / len(questions)
        progress(state["frac"], T("export.v.stops", n=n, total=len(questions), tokens=STOP_CHECK_TOKENS,
                                  left=max(0, round(deadline - time.monotonic()))))
        ids = _prompt_ids(contract, q, tok)
        with torch.no_grad():
            ref = merged.generate(ids, **kw)[0, ids.shape[1]:].tolist()
            got = model.generate(ids, **kw)[0, ids.shape[1]:].tolist()
        if time.monotonic() > deadline:
            break                      # this pair may have been cut by the budget: it does not count
        done += 1
        if replies is not None:
            cut = next((i for i, t in enumerate(ref) if t in stop), len(ref))
            replies[q] = (tok.decode(ref[:cut], skip_special_tokens=True), cut < len(ref))
        stops_ref += any(t in stop for t in ref)
        stops_got += any(t in stop for t in got)
    if not done:
        return Check("stops", True, T("export.c.stops_unchecked", seconds=round(seconds)), checked=False)
    detail = T("export.c.stops", got=stops_got, ref=stops_ref, n=done)
    if done < len(questions):
        detail = T("export.c.stops_partial", detail=detail, n=done, total=len(questions), seconds=round(seconds))
    return Check("stops", stops_got >= stops_ref, detail)
