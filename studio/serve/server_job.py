"""The OpenAI-compatible server as a background job: started and stopped from the app like any other job, it
keeps its status, log and address in its job folder. Heavy imports stay inside."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from studio.core.errors import StudioError
from studio.jobs.params import ServeParams
from studio.locale import T, Text, loading

POLL_S = 0.5


def serve_until_stopped(p: ServeParams, runs_dir: Path, say) -> Text:
    """Serve until the job's stop is requested (say(..., None) raises then). Returns the closing summary."""
    import uvicorn

    from studio.serve.models_served import ServedModels
    from studio.serve.openai_api import check_bind, create_app

    host, port = p.host or "127.0.0.1", int(p.port or 8000)
    check_bind(host, p.api_key or None)
    say(0.1, loading("serve.p.loading"))
    models = ServedModels.open(p.model, list(p.runs or []), runs_dir)
    server = uvicorn.Server(uvicorn.Config(create_app(models, p.api_key or None, host), host=host, port=port,
                                           log_level="warning", timeout_graceful_shutdown=3))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise StudioError("err.serve.port", host=host, port=port, reason="the address is in use or not allowed")
        time.sleep(0.05)
    url = f"http://{host}:{port}/v1"
    say(1.0, T("serve.p.serving", url=url, models=", ".join(models.names), keyed=T("serve.key_on") if
               p.api_key else ""))
    started = time.time()
    try:
        while thread.is_alive():
            say(1.0, None)  # raises when a stop was requested
            time.sleep(POLL_S)
    finally:
        server.should_exit = True
        thread.join(10)
    return T("serve.stopped", url=url, minutes=f"{(time.time() - started) / 60:.0f}")
