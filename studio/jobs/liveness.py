"""Is a run or job still alive? Its status, with a process that is gone turned into 'failed' (and written back)."""
from __future__ import annotations

from pathlib import Path

from studio.jobs.checkpoints import latest_checkpoint
from studio.jobs.folders import Run
from studio.jobs.status import ACTIVE, State, Status, error_fields, pid_alive, read_status, write_status
from studio.locale import T


def refresh(folder: Path) -> Status:
    """The status; a job or run whose process is gone (or whose pid now belongs to another process) becomes failed,
    a run's reason saying which checkpoint a resume would use."""
    status = read_status(folder)
    if status.state in ACTIVE and status.pid and not pid_alive(status.pid, status.pid_start):
        if Run(folder).config.exists():
            ckpt = latest_checkpoint(folder)
            where = T("train.died_resume", ckpt=ckpt.name) if ckpt else T("train.died_no_ckpt")
            reason = T("train.died", where=where)
        else:
            reason = T("job.died")
        status = write_status(folder, state=State.FAILED.value, **error_fields(reason))
    return status
