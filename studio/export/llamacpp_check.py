"""An exported GGUF run in llama.cpp (llama-cpp-python), where that is installed: the reader llama.cpp's server, LM
Studio and Ollama share. The chat starts with no system message, as theirs do, so the file's own template must
supply the persona's system part; greedy replies are compared with the studio's. Reported, not judged: llama.cpp
computes q8_0 with 8-bit activations, so an under-trained character may diverge. Only a file llama.cpp cannot read
or run fails the check. Heavy imports stay inside."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from studio.core.errors import Stopped
from studio.export.checks import Check
from studio.locale import T

LLAMACPP_SECONDS = 60.0   # a bound like the stop check's: a reply that never stops must not hold the export
LLAMACPP_CONTEXT = 2048   # prompt plus a short reply; the file's full context would size a huge cache


def llamacpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def llamacpp_check(path: Path, studio_replies: dict[str, tuple[str, bool]], max_tokens: int,
                   seconds: float = LLAMACPP_SECONDS, progress=lambda f, m: None) -> Check:
    """studio_replies: question -> (the merged model's greedy reply, whether it ended its turn), as the studio's
    chat asks (with the persona's system prompt). progress(fraction, Text | None) as in verify_gguf."""
    if not llamacpp_installed():
        return Check("llamacpp", True, T("export.c.llamacpp_absent"), checked=False)
    if not studio_replies:
        return Check("llamacpp", True, T("export.c.llamacpp_nothing"), checked=False)
    try:
        from llama_cpp import Llama
        llm = Llama(model_path=str(path), n_ctx=LLAMACPP_CONTEXT, seed=0, verbose=False)
    except Exception as e:  # noqa: BLE001 - a file llama.cpp cannot read is what this check is for
        return Check("llamacpp", False, T("export.c.llamacpp_unreadable", reason=str(e)[:200]))
    deadline = time.monotonic() + seconds
    done = same = stops = ref_stops = 0
    try:
        for n, (question, (want, want_stop)) in enumerate(studio_replies.items(), start=1):
            frac = (n - 1) / len(studio_replies)
            progress(frac, T("export.v.llamacpp", n=n, total=len(studio_replies),
                             left=max(0, round(deadline - time.monotonic()))))
            text, finish = "", None
            for chunk in llm.create_chat_completion([{"role": "user", "content": question}], temperature=0.0,
                                                    max_tokens=max_tokens, stream=True):
                progress(frac, None)   # a chance to honour Stop at each token
                choice = chunk["choices"][0]
                text += choice.get("delta", {}).get("content") or ""
                finish = choice.get("finish_reason") or finish
                if time.monotonic() > deadline:
                    break
            if time.monotonic() > deadline:
                break                  # cut by the budget: this reply does not count
            done += 1
            same += text.strip() == want.strip()
            stops += finish == "stop"
            ref_stops += want_stop
    except Stopped:
        raise
    except Exception as e:  # noqa: BLE001 - the file loads but cannot be run: a real defect
        return Check("llamacpp", False, T("export.c.llamacpp_failed", reason=str(e)[:200]))
    finally:
        llm.close()
    if not done:
        return Check("llamacpp", True, T("export.c.llamacpp_unchecked", seconds=round(seconds)), checked=False)
    return Check("llamacpp", True, T("export.c.llamacpp", same=same, stops=stops, ref_stops=ref_stops, n=done))
