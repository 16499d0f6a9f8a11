"""What each job kind does in its child process: params.json's fields -> a call into the package that owns the
work. The launcher (studio/jobs) knows these kinds only by name."""
from __future__ import annotations

from pathlib import Path

from studio.jobs.folders import Run
from studio.locale import T, Text


def _merge(p: dict, runs_dir: Path, say) -> Text:
    from studio.export.model_card import card_for_merged
    from studio.serve.merge import merge_adapter
    report = merge_adapter(p["ref"], p.get("out") or None, runs_dir, use_checkpoint=bool(p.get("use_checkpoint")),
                           progress=say)
    card_for_merged(report.out)
    return report.summary_text()


def _combine(p: dict, runs_dir: Path, say) -> Text:
    from studio.serve.merge import combine_into_run
    run = combine_into_run(list(p["refs"]), list(p["weights"]), p["method"], runs_dir, float(p.get("density", 0.5)),
                           progress=say)
    return T("merge.combined", n=len(p["refs"]), how=p["method"], weights=p["weights"], run=run.name)


def _eval(p: dict, runs_dir: Path, say) -> Text:
    from studio.eval.evaluate import evaluate
    res = evaluate(p["ref"], p.get("prompts") or None, runs_dir, int(p.get("max_new_tokens") or 64), progress=say,
                   against=p.get("against") or "base")
    return T("eval.done", n=len(res["answers"]), path=str(Run(Path(p["ref"])).results))


def _export(p: dict, runs_dir: Path, say) -> Text:
    from studio.export.export_run import export_run
    return export_run(p["ref"], p.get("quant") or "q8_0", p.get("out") or None, runs_dir, progress=say).summary_text()


def _serve(p: dict, runs_dir: Path, say) -> Text:
    from studio.serve.server_job import serve_until_stopped
    return serve_until_stopped(p, runs_dir, say)


def _draft(p: dict, runs_dir: Path, say) -> Text:
    from studio.serve.drafting import DraftRequest, draft
    fields = DraftRequest.__dataclass_fields__
    return draft(DraftRequest(**{k: v for k, v in p.items() if k in fields}), runs_dir, say)


TASKS = {"merge": _merge, "combine": _combine, "eval": _eval, "export": _export, "serve": _serve, "draft": _draft}
