"""Generation for chat, scripts and evaluation: one base model in memory, LoRA adapters switched per row.

Rows of one batch may use different adapters (peft's mixed-adapter batches, "__base__" = adapter off), so the
base and the tuned pane decode together in one forward pass. Prompts and stop ids come from the contract.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.integrity import ADAPTER_CONFIG, adapter_problem, adapter_targets_problem
from studio.format.contract import CONTRACT_FILE, Contract, model_hash
from studio.format.render import generation_prompt_ids, stop_token_ids
from studio.serve.decoding import fast_head, one_model, sampler

BASE = "__base__"


@dataclass
class GenSettings:
    temperature: float = 0.0        # 0 = greedy (reproducible comparisons)
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    max_new_tokens: int = 64
    seed: int = 0


@dataclass
class Row:
    adapter: str | None             # an adapter name loaded in the engine, or None for the base
    contract: Contract
    history: list[tuple[str, str]] = field(default_factory=list)
    message: str = ""
    completion: bool = False        # a base checkpoint asked as text to continue (COMPLETION), cut at the line end


COMPLETION = "Q: {question}\nA:"   # how a base checkpoint (no chat) is asked: it answers, then starts a new line


@dataclass
class Reply:
    text: str
    stopped: bool                   # ended on an end-of-turn id (not cut by max_new_tokens)
    new_tokens: int
    prompt_truncated: bool = False  # the prompt was cut from the left to fit the context
    token_ids: list[int] = field(default_factory=list)  # generated ids, end-of-turn excluded
    looped: bool = False            # ended because it repeated itself (not by an end of turn, not by the limit)


LOOP_TIMES, LOOP_MAX_PERIOD, LOOP_MIN_TOKENS = 3, 48, 12


def looping(ids: list[int], times: int = LOOP_TIMES, max_period: int = LOOP_MAX_PERIOD,
            min_tokens: int = LOOP_MIN_TOKENS) -> int:
    """The length of a block the ids end with `times` times in a row, else 0: a model that will never stop (an
    untuned base answering '夏休みの予定は？に行った。' over and over until the token limit). Blocks of
    1..max_period ids, covering at least min_tokens ids, so a short '！！！' is not a loop."""
    n = len(ids)
    for period in range(1, max_period + 1):
        span = period * times
        if span > n:
            break
        if span < min_tokens:
            continue
        tail = ids[n - span:]
        if all(tail[i] == tail[i % period] for i in range(period, span)):
            return period
    return 0


def default_contract(tokenizer, base: str) -> Contract:
    """For a model with no run: its own chat template (or llama2), no system prompt."""
    template = "model" if getattr(tokenizer, "chat_template", None) else "llama2"
    return Contract(base_model=base, base_model_path=base, base_model_hash="", template=template, system_prompt="",
                    notes="", notes_in_prompt=False, bos_token=tokenizer.bos_token, eos_token=tokenizer.eos_token,
                    end_of_turn=None, stop_token_ids=stop_token_ids(template, tokenizer), max_length=0,
                    train_on="responses", data_hash="")


def decode_whole_chars(tokenizer, ids: list[int]) -> str:
    """Decode, leaving out trailing tokens that end inside a character: a reply cut at max_new_tokens (or a
    stream mid-character) must not end in U+FFFD, which would also land in votes and preference exports."""
    text = tokenizer.decode(ids, skip_special_tokens=True)
    cut = 0
    while text.endswith("\ufffd") and cut < 4 and cut < len(ids):  # a UTF-8 character spans at most 4 bytes
        cut += 1
        text = tokenizer.decode(ids[:-cut], skip_special_tokens=True)
    return text if not text.endswith("\ufffd") else text.rstrip("\ufffd")


class ChatEngine:
    """One base model (+ adapters). Not shared between browser sessions; call release() to free memory."""

    def __init__(self, base_path: str, device: str | None = None):
        from transformers import AutoTokenizer

        from studio.core.models import device as default_device
        from studio.core.models import load_model, seal_added_tokens

        self.base_path = base_path
        self.device = device or default_device()
        try:
            self.tokenizer = seal_added_tokens(AutoTokenizer.from_pretrained(base_path))
            self.model = load_model(base_path, on=self.device)
            fast_head(self.model, self.device)
        except Exception as e:  # noqa: BLE001 - a missing, partial or corrupt folder: say so in the pane
            first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            raise StudioError("err.chat.cannot_load", base_path=base_path, first=first) from None
        self.adapters: dict[str, Contract] = {}
        self.lock = threading.Lock()  # one generate at a time on this model
        own = Path(base_path) / CONTRACT_FILE
        self.own_contract = Contract.load(base_path) if own.exists() else default_contract(self.tokenizer, base_path)

    def add_adapter(self, name: str, adapter_dir: str | Path) -> Contract:
        from peft import PeftModel

        adapter_dir = Path(adapter_dir)
        problem = adapter_problem(adapter_dir)
        if problem:
            raise StudioError("err.chat.adapter_unusable", adapter_dir=adapter_dir, problem=problem)
        contract = Contract.load(adapter_dir)
        if contract.base_model_hash and contract.base_model_hash != model_hash(self.base_path):
            raise StudioError("err.chat.other_base", adapter_dir=adapter_dir, base_model_path=contract.base_model_path,
                              base_path=self.base_path)
        if contract.added_tokens:
            from transformers import AutoTokenizer

            from studio.core.models import seal_added_tokens
            self.tokenizer = seal_added_tokens(AutoTokenizer.from_pretrained(adapter_dir))
            self.model.resize_token_embeddings(len(self.tokenizer))
            fast_head(self.model, self.device)
        if name in self.adapters:
            return self.adapters[name]
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        problem = adapter_targets_problem(base, adapter_dir / ADAPTER_CONFIG)
        if problem:
            raise StudioError("err.chat.adapter_unusable", adapter_dir=adapter_dir, problem=problem)
        if not hasattr(self.model, "peft_config"):
            self.model = PeftModel.from_pretrained(self.model, adapter_dir, adapter_name=name, is_trainable=False)
        else:
            self.model.load_adapter(adapter_dir, adapter_name=name, is_trainable=False)
        self.model.eval()
        self.adapters[name] = contract
        return contract

    @contextmanager
    def only(self, adapter: str | None, merge: bool = True) -> Iterator[bool]:
        """Rows of one model only (decoding.one_model): True when the rows need no per-row adapter routing. Call
        with the lock held."""
        with one_model(self.model, adapter, merge) as single:
            yield single

    def release(self) -> None:
        import gc
        with self.lock:  # waits for a reply being generated, so it is never cut off mid-way
            self.model = None
        gc.collect()
        try:
            import torch
            torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001
            pass

    def context_length(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)

    def prompt_ids(self, row: Row, max_new_tokens: int) -> tuple[list[int], bool]:
        """The contract's generation prompt; oldest turns dropped, then the message cut from the left, to fit."""
        budget = self.context_length() - max_new_tokens
        if row.completion:   # earlier turns become earlier Q/A lines (few-shot examples, when drafting)
            def line(text: str) -> str:   # a line break inside would end the line (or start a fake one)
                return " ".join(text.split())
            text = "".join(f"{COMPLETION.format(question=line(q))} {line(a)}\n" for q, a in row.history)
            ids = self.tokenizer(text + COMPLETION.format(question=line(row.message)))["input_ids"]
            return ids[-budget:], len(ids) > budget

        def ids_of(history: list, message: str) -> list[int]:
            return generation_prompt_ids(row.contract.conversation(history, message), row.contract.template,
                                         self.tokenizer)
        history, message = list(row.history), row.message
        ids = ids_of(history, message)
        if len(ids) <= budget:
            return ids, False
        # the fewest oldest turns to drop, found by halving: O(log n) renders, each linear in what is left
        lo, hi = 0, len(history)
        while lo < hi:
            mid = (lo + hi) // 2
            if len(ids_of(history[mid:], message)) <= budget:
                hi = mid
            else:
                lo = mid + 1
        ids = ids_of(history[lo:], message)
        while len(ids) > budget and message:  # no history left to drop: the message is cut from the left
            excess = len(ids) - budget
            message = message[max(excess, len(message) // 10):]  # characters >= tokens for these tokenizers
            ids = ids_of([], message)
        return ids, True

    def check_rows(self, rows: list[Row]) -> None:
        if self.model is None:
            raise StudioError("err.chat.released")
        for r in rows:
            if not r.message.strip():
                raise StudioError("err.chat.empty_message")
            if r.adapter and r.adapter not in self.adapters:
                raise StudioError("err.chat.adapter_not_loaded", adapter=r.adapter)

    def generate_kwargs(self, rows: list[Row], prompts: list[list[int]], settings: GenSettings,
                        cancel: threading.Event | None = None, routed: bool = True) -> dict:
        """model.generate's arguments for these rows: left padding, the contracts' stop ids, greedy or sampled, and
        a stopping rule for rows that end early (a cancel, a completion's line end, a loop)."""
        import torch
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        kwargs = dict(input_ids=input_ids, attention_mask=mask, max_new_tokens=settings.max_new_tokens,
                      eos_token_id=sorted({i for r in rows for i in r.contract.stop_token_ids}), pad_token_id=pad,
                      repetition_penalty=settings.repetition_penalty)
        # sampling is done by one processor on the most likely tokens; generate() then picks its choice greedily
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if settings.temperature > 0:
            kwargs["logits_processor"] = LogitsProcessorList([sampler(settings)])
        line_ends = [r.completion for r in rows]
        tokenizer = self.tokenizer

        class _Ends(StoppingCriteria):
            """Cancelled (a client gone), a completion row's line ended, or a row repeats itself (it would run to
            the token limit: minutes on a CPU for nothing)."""
            def __call__(self, input_ids, scores, **kw):
                last = input_ids[:, -1].tolist()
                ended = [c and "\n" in tokenizer.decode([t]) for c, t in zip(line_ends, last)]
                ended = [e or looping(row[width:]) for e, row in zip(ended, input_ids.tolist())]
                return torch.tensor(ended, device=input_ids.device) | bool(cancel is not None and cancel.is_set())
        kwargs["stopping_criteria"] = StoppingCriteriaList([_Ends()])
        if routed and hasattr(self.model, "peft_config"):   # (not routed: one model's rows, see only())
            kwargs["adapter_names"] = [r.adapter or BASE for r in rows]
        return kwargs

    def stream(self, rows: list[Row], settings: GenSettings,
               cancel: threading.Event | None = None) -> Iterator[list[str] | list[Reply]]:
        """Yields the partial texts of all rows as they grow; the last item is the list of Replies. Setting `cancel`
        (a client gone) ends generation at the next token, so the model is free for the next request."""
        import torch

        self.check_rows(rows)
        prompts = [self.prompt_ids(r, settings.max_new_tokens) for r in rows]
        kwargs = self.generate_kwargs(rows, [p for p, _ in prompts], settings, cancel)
        q: queue.Queue = queue.Queue()
        streamer = _RowStreamer(q)
        error: list[BaseException] = []

        def work():
            with self.lock:
                torch.manual_seed(settings.seed)
                try:
                    if self.model is None:  # released between the check above and this thread's turn
                        raise StudioError("err.chat.released")
                    with torch.no_grad():
                        self.model.generate(**kwargs, streamer=streamer)
                except BaseException as e:  # noqa: BLE001 - reported to the caller below
                    error.append(e)
                finally:
                    q.put(None)

        threading.Thread(target=work, daemon=True).start()
        ends = RowEnds(self.tokenizer, rows)
        while (step := q.get()) is not None:
            ends.add(step)
            yield ends.texts()
        if error:
            raise generation_error(error[0])
        yield ends.replies([t for _, t in prompts])

    def generate(self, rows: list[Row], settings: GenSettings, cancel: threading.Event | None = None) -> list[Reply]:
        from collections import deque
        last = deque(self.stream(rows, settings, cancel), maxlen=1)  # the stream's last item: the finished replies
        return last[0] if last else None


def generation_error(e: BaseException) -> StudioError:
    if isinstance(e, StudioError):
        return e
    return StudioError("err.chat.generation_failed", type=type(e).__name__, str=str(e)[:200])


class RowEnds:
    """Each row's new ids as the steps arrive, and where it ended: on an end-of-turn id (or a completion row's line
    end), or repeating itself (the repeats after the first are dropped), or at the token limit."""

    def __init__(self, tokenizer, rows: list[Row]):
        self.tokenizer = tokenizer
        stops = {i for r in rows for i in r.contract.stop_token_ids}  # generate ends a row on any of them
        self.stops = [stops] * len(rows)
        self.line_ends = [r.completion for r in rows]
        self.new: list[list[int]] = [[] for _ in rows]
        self.done = [False] * len(rows)
        self.looped = [False] * len(rows)

    def add(self, step: list[int]) -> None:
        for i, tid in enumerate(step):
            if self.done[i] or self.looped[i]:
                continue
            if tid in self.stops[i] or (self.line_ends[i] and "\n" in self.tokenizer.decode([tid])):
                self.done[i] = True
                continue
            self.new[i].append(tid)
            period = looping(self.new[i])
            if period:
                self.looped[i] = True
                del self.new[i][len(self.new[i]) - period * (LOOP_TIMES - 1):]

    def texts(self) -> list[str]:
        return [decode_whole_chars(self.tokenizer, t) for t in self.new]

    def replies(self, truncated: list[bool]) -> list[Reply]:
        return [Reply(decode_whole_chars(self.tokenizer, t).strip(), self.done[i], len(t) + int(self.done[i]),
                      truncated[i], t, looped=self.looped[i]) for i, t in enumerate(self.new)]


class _RowStreamer:
    """A transformers streamer that hands every generated step (one id per row) to a queue."""

    def __init__(self, q: queue.Queue):
        self.q = q
        self.first = True

    def put(self, value) -> None:
        if self.first:  # the prompt
            self.first = False
            return
        self.q.put([int(x) for x in value.reshape(-1).tolist()])

    def end(self) -> None:
        pass
