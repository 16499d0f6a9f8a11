"""Pushing a run's adapter, merged model or export to the Hugging Face Hub with huggingface_hub's upload API (the
folder's model card goes with it). Offline, or without a token, it says so in one sentence."""
from __future__ import annotations

import os
from pathlib import Path

from studio.core.errors import StudioError
from studio.format.contract import CONTRACT_FILE
from studio.jobs.folders import resolve_run

WHAT = ("adapter", "merged", "export")


def _network_error(err: BaseException | None) -> bool:
    """Whether an error, or one it was raised from, is the network's (no route, no name, refused, timed out)."""
    import socket
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, (socket.gaierror, ConnectionError, TimeoutError)):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def push_run(ref: str, runs_dir: Path, repo: str, what: str = "adapter", private: bool = False) -> str:
    """Upload the folder to `repo` (created when missing); returns the commit's address."""
    run = resolve_run(ref, runs_dir)
    folder = {"adapter": run.adapter, "merged": run.merged, "export": run.export}[what]
    if not (folder.is_dir() and any(folder.iterdir())):
        raise StudioError("err.push.nothing", what=what, run=run.id)
    if os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0"):
        raise StudioError("err.push.offline")
    from huggingface_hub import HfApi, get_token
    if not get_token():
        raise StudioError("err.push.no_token")
    from studio.export.model_card import CARD_FILE, write_model_card
    if not (folder / CARD_FILE).exists() and (folder / CONTRACT_FILE).exists():
        write_model_card(run, folder, what)
    from studio.core.models import hub_reachable
    if not hub_reachable():   # one quick try, then the offline sentence (not a resolver's "[Errno -2]")
        raise StudioError("err.push.offline")
    api = HfApi()
    try:
        api.create_repo(repo, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo,
                                 commit_message=f"Persona Studio: {run.id} ({what})")
    except Exception as e:  # noqa: BLE001 - network, permission or name problems: one sentence
        text = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        if _network_error(e) or any(w in text.lower() for w in ("connect", "resolve", "offline", "name or service")):
            raise StudioError("err.push.offline") from None
        raise StudioError("err.push.failed", repo=repo, reason=text) from None
    return str(getattr(info, "commit_url", info))
