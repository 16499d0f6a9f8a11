"""The trainer callback that writes metrics.jsonl and status.json and obeys stop requests. With several ranks,
only each machine's local rank 0 writes, and a stop request is agreed by every rank at the same step."""
from __future__ import annotations

import time
from pathlib import Path

from transformers import TrainerCallback

from studio.jobs.runs import append_metrics, read_metrics
from studio.jobs.status import STOP, State, write_status
from studio.train.distributed import Rank, any_rank


class RunFilesCallback(TrainerCallback):
    def __init__(self, run: Path):
        self.run = run
        self.started = time.time()
        self.first_step: int | None = None
        self.earlier_s = 0.0     # training time before a resume: elapsed_s goes on from it, never restarts
        self.rank = Rank.current()
        self.watch = None        # the worker's stop watch, armed until the first step ends (studio.train.phases)

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.time()
        self.first_step = state.global_step
        if state.global_step:
            done = [r for r in read_metrics(self.run) if r["step"] <= state.global_step
                    and isinstance(r.get("elapsed_s"), (int, float))]
            self.earlier_s = float(done[-1]["elapsed_s"]) if done else 0.0
        if self.rank.writes_files:   # the first step is a phase of its own: it may take a minute on a busy CPU
            stopping = (self.run / STOP).exists()   # a stop asked for already is never turned back into running
            write_status(self.run, **({} if stopping else {"state": State.RUNNING}), step=state.global_step,
                         total=state.max_steps, phase={"name": "first_step", "since": time.time()})

    def _eta(self, state) -> float | None:
        done = state.global_step - (self.first_step or 0)
        if done <= 0:
            return None
        return (time.time() - self.started) / done * (state.max_steps - state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        record = {"step": state.global_step, "elapsed_s": round(self.earlier_s + time.time() - self.started, 2),
                  "eta_s": None if self._eta(state) is None else round(self._eta(state), 1)}
        for key, name in (("loss", "loss"), ("learning_rate", "learning_rate"), ("grad_norm", "grad_norm"),
                          ("num_tokens", "tokens"), ("eval_loss", "eval_loss"),
                          ("mean_token_accuracy", "token_accuracy"), ("rewards/margins", "reward_margin"),
                          ("rewards/accuracies", "reward_accuracy"), ("kl", "kl")):
            if key in logs:
                record[name] = logs[key]
        if len(record) > 3 and self.rank.writes_files:
            append_metrics(self.run, record)

    def on_step_end(self, args, state, control, **kwargs):
        if self.watch is not None:   # from now on a stop saves what was trained, at this step boundary
            self.watch.disarm()
            self.watch = None
        eta = self._eta(state)
        stop = (self.run / STOP).exists()
        if self.rank.world > 1:
            stop = any_rank(stop, args.device)
        if stop:
            control.should_training_stop = True
            control.should_save = True  # a checkpoint at the stop step, so resume continues from here
        if self.rank.writes_files:
            write_status(self.run, step=state.global_step, total=state.max_steps, eta_s=eta, phase=None,
                         **({"state": State.STOPPING} if stop else {}))
        return control
