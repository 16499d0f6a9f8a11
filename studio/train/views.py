"""What the Train tab shows, built from run files only (so any tab, or a reloaded page, sees the same)."""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from studio.jobs.folders import CONTRACT, Run
from studio.jobs.launcher import refresh
from studio.jobs.runs import list_runs, read_metrics
from studio.jobs.status import LIVE, localized_error
from studio.locale import tr
from studio.train.config import run_settings

# train.phase.<name> in the locale tables
PHASES = ("start", "data", "replay", "load", "trainer", "first_step", "save")


def progress_text(run: Path | None, lang: str = "en") -> tuple[str, float]:
    if run is None:
        return tr(lang, "train.no_run"), 0.0
    s = refresh(run)
    step, total = s.step or 0, s.total or 0
    frac = step / total if total else 0.0
    eta_txt = tr(lang, "train.eta", eta=_clock(s.eta_s)) if s.eta_s and s.state in LIVE else ""
    err = f"\n{localized_error(s, lang)}" if s.error else ""
    # the state word stays English too (in parentheses) in Japanese: scripts and the CLI use it
    ranks = s.ranks or {}
    spread = tr(lang, "train.ranks", world=ranks.get("world"), strategy=ranks.get("strategy"),
                machines=ranks.get("machines")) if ranks.get("world", 1) != 1 or ranks.get("machines", 1) != 1 else ""
    phase = s.phase if s.state in LIVE else None
    before = "\n" + phase_text(phase, lang) if phase else ""
    return tr(lang, "train.progress_line", run=run.name, state=tr(lang, f"state.{s.state}"),
              step=step, total=total, pct=f"{frac:.0%}", eta=eta_txt) + before + spread + err, frac


def phase_text(phase: dict, lang: str) -> str:
    """One line for a phase before or after the steps: n/N and ETA where it counts, else its elapsed time."""
    name = phase.get("name")
    if name not in PHASES:
        return ""
    since = phase.get("since")
    elapsed = _clock(max(0.0, time.time() - since)) if isinstance(since, (int, float)) else "?"
    if isinstance(phase.get("done"), int) and isinstance(phase.get("total"), int):
        eta = tr(lang, "train.eta", eta=_clock(phase["eta_s"])) if phase.get("eta_s") else ""
        return tr(lang, f"train.phase.{name}", done=phase["done"], total=phase["total"], eta=eta)
    return tr(lang, f"train.phase.{name}", elapsed=elapsed, model=str(phase.get("model", "")))


def progress_html(frac: float) -> str:
    pct = max(0.0, min(frac, 1.0)) * 100
    return (f'<div style="background:#eee;border-radius:6px;height:14px"><div style="width:{pct:.1f}%;'
            f'background:#f97316;height:14px;border-radius:6px"></div></div>')


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def loss_frame(runs: list[Path], label_by_run: bool = False, lang: str = "en") -> pd.DataFrame:
    """Long format for gr.LinePlot: step, loss, series ('train'/'eval' in `lang`, after the run id when comparing)."""
    rows = []
    for run in runs:
        for m in read_metrics(run):
            for key, name in (("loss", tr(lang, "series.train")), ("eval_loss", tr(lang, "series.eval"))):
                if key in m:
                    series = f"{run.name} {name}" if label_by_run else name
                    rows.append({"step": m["step"], "loss": m[key], "series": series})
    # typed even when empty: the plot's first (empty) frame decides its axis types in the browser
    return pd.DataFrame(rows, columns=["step", "loss", "series"]).astype(
        {"step": "int64", "loss": "float64", "series": "str"})


HISTORY_COLUMNS = ["run", "state", "steps", "last loss", "model", "started"]
HISTORY_KEYS = ("col.run", "col.state", "col.steps", "col.last_loss", "col.model", "col.started", "col.lineage",
                "col.freeform")


def lineage_cell(r) -> str:
    """'20261203-…-ayano → DPO' for a run started from another run (its status records the method and parent)."""
    parent, method = r.status.parent_run, r.status.method
    return f"{parent} → {str(method).upper()}" if parent and method else ""


def freeform_cell(run: Path, lang: str) -> str:
    """'0.93 → 0.10 ⚠' from the run's evaluation: free-form knowledge base → tuned, flagged when it dropped."""
    from studio.eval.results import EvalResults
    from studio.jobs.folders import Run
    res = EvalResults.load(Run(run).results)
    if res is None:
        return ""
    base, tuned = res.base.get("freeform_score"), res.tuned.get("freeform_score")
    if not isinstance(base, (int, float)) or not isinstance(tuned, (int, float)):
        return ""
    return f"{base:.2f} → {tuned:.2f}" + (f" ⚠ {tr(lang, 'eval.forgot_short')}" if res.forgetting else "")


def history_frame(runs_dir: Path, lang: str = "en") -> pd.DataFrame:
    rows = []
    for r in list_runs(runs_dir):
        losses = [m["loss"] for m in read_metrics(r.path) if "loss" in m]
        started = r.status.created or r.status.started
        settings = run_settings(Run(r.path))
        model = settings.model if settings else ""
        rows.append([r.id, tr(lang, f"state.{r.state}"), r.status.steps,
                     f"{losses[-1]:.4f}" if losses else "", model,
                     time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) if started else "",
                     lineage_cell(r), freeform_cell(r.path, lang)])
    return pd.DataFrame(rows, columns=[tr(lang, k) for k in HISTORY_KEYS])


def plot_update(frame: pd.DataFrame, shown: list[str]) -> tuple[pd.DataFrame | None, list[str]]:
    """What to send to the loss plot, given the series it shows now: (value, series shown after).

    gradio's plot fixes its color scale when it is first drawn and only updates the data afterwards, so a series
    absent from the first draw gets no stroke (the line was invisible when the page opened before the run's first
    logged step). An empty plot is therefore sent as None (nothing drawn yet), and when the set of series changes
    the plot gets None once, so the next update draws it anew with every series in its scale."""
    present = list(dict.fromkeys(frame["series"])) if len(frame) else []
    if not present or (shown and set(present) != set(shown)):
        return None, []
    return frame, present


def log_html(text: str) -> str:
    """The log tail in a box that stays scrolled to its end (column-reverse anchors the view at the bottom)."""
    import html
    return ('<div style="display:flex;flex-direction:column-reverse;height:300px;overflow:auto;'
            'border:1px solid #ddd;border-radius:6px;padding:6px;background:#fafafa">'
            f'<pre style="margin:0;white-space:pre-wrap;font-size:12px">{html.escape(text)}</pre></div>')


def persona_line(session, run: Path | None, lang: str = "en") -> str:
    """Which persona Start will train (name, rows, data hash), and which one the shown run trained."""
    from studio.format.contract import data_hash
    parts = []
    if session is not None and getattr(session, "folder", ""):
        p = session.persona
        parts.append(tr(lang, "train.persona_now", folder=Path(session.folder).name, name=p.name or "—",
                        rows=len(p.pairs), hash=data_hash([q.content_row() for q in p.pairs])[:8]))
    else:
        parts.append(tr(lang, "train.persona_none"))
    if run is not None:
        info = _run_persona(run)
        if info:
            parts.append(tr(lang, "train.persona_run", run=run.name, **info))
    return "  \n".join(parts)


def _run_persona(run: Path) -> dict | None:
    import json
    for place in (Run(run).adapter / CONTRACT, Run(run).contract):
        try:
            c = json.loads(place.read_text(encoding="utf-8"))
            return {"name": c.get("persona_name") or "—", "hash": str(c.get("data_hash", ""))[:8]}
        except (OSError, ValueError, AttributeError):
            continue
    return None
