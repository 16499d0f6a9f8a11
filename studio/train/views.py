"""What the Train tab shows, built from run files only (so any tab, or a reloaded page, sees the same)."""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from studio.train.runs import list_runs, read_metrics, refresh


def progress_text(run: Path | None) -> tuple[str, float]:
    if run is None:
        return "No run yet.", 0.0
    s = refresh(run)
    step, total = s.get("step", 0) or 0, s.get("total") or 0
    frac = step / total if total else 0.0
    eta = s.get("eta_s")
    eta_txt = f" · ETA {_clock(eta)}" if eta and s.get("state") in ("running", "stopping") else ""
    err = f"\n{s['error']}" if s.get("error") else ""
    return f"{run.name}: {s.get('state')} · step {step}/{total} ({frac:.0%}){eta_txt}{err}", frac


def progress_html(frac: float) -> str:
    pct = max(0.0, min(frac, 1.0)) * 100
    return (f'<div style="background:#eee;border-radius:6px;height:14px"><div style="width:{pct:.1f}%;'
            f'background:#f97316;height:14px;border-radius:6px"></div></div>')


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def loss_frame(runs: list[Path], label_by_run: bool = False) -> pd.DataFrame:
    """Long format for gr.LinePlot: step, loss, series ('train'/'eval', or the run id when comparing)."""
    rows = []
    for run in runs:
        for m in read_metrics(run):
            for key, name in (("loss", "train"), ("eval_loss", "eval")):
                if key in m:
                    series = f"{run.name} {name}" if label_by_run else name
                    rows.append({"step": m["step"], "loss": m[key], "series": series})
    # typed even when empty: the plot's first (empty) frame decides its axis types in the browser
    return pd.DataFrame(rows, columns=["step", "loss", "series"]).astype(
        {"step": "int64", "loss": "float64", "series": "str"})


HISTORY_COLUMNS = ["run", "state", "steps", "last loss", "model", "started"]


def history_frame(runs_dir: Path) -> pd.DataFrame:
    rows = []
    for r in list_runs(runs_dir):
        losses = [m["loss"] for m in read_metrics(r.path) if "loss" in m]
        started = r.status.get("created") or r.status.get("started")
        model = ""
        cfg = r.path / "config.yaml"
        if cfg.exists():
            model = next((line.split(":", 1)[1].strip() for line in cfg.read_text(encoding="utf-8").splitlines()
                          if line.startswith("model:")), "")
        rows.append([r.id, r.state, f"{r.status.get('step', 0)}/{r.status.get('total', '?')}",
                     f"{losses[-1]:.4f}" if losses else "", model,
                     time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) if started else ""])
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)
