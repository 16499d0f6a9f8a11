import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# The suite never writes into the user's own workspace (personas, runs, logs/errors.log): every test and every
# process a test starts gets a throwaway home unless the test names its own.
_HOME = Path(tempfile.mkdtemp(prefix="studio-tests-home-"))
os.environ["STUDIO_HOME"] = str(_HOME)
os.environ["STUDIO_RUNS_DIR"] = str(_HOME / "runs")
SAMPLE = ROOT / "data" / "personas" / "ayano"


@pytest.fixture
def sample_dir() -> Path:
    return SAMPLE


def wait_for(pred, timeout: float = 120, poll: float = 0.2) -> bool:
    """Poll `pred` until it is true; fail the test after `timeout` seconds."""
    import time
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(poll)
    raise AssertionError("timed out")


def launch_app():
    """Build and launch the studio exactly as app.py does (same queue settings); returns (demo, url)."""
    from studio.ui.app import CSS, QUEUE, build_app
    demo, i18n = build_app()
    _, url, _ = demo.queue(**QUEUE).launch(prevent_thread_lock=True, server_name="127.0.0.1", i18n=i18n, quiet=True,
                                           css=CSS)
    return demo, url


def train_adapter(root, model, seed, template: str = "model"):
    """A small LoRA adapter trained in-process on 8 ojousama rows (5 steps): an adapter folder with its contract."""
    from studio.data.persona import Persona, QAPair
    from studio.data.persona_store import save_persona
    from studio.train.config import TrainConfig
    from studio.train.worker import prepare
    save_persona(Persona(system_prompt="お嬢様", pairs=[QAPair(f"q{i}", "ですわ。") for i in range(8)]), root / "p")
    cfg = TrainConfig(model=str(model), data=str(root / "p"), max_steps=5, batch_size=4, grad_accum=1, lora_r=4,
                      lora_alpha=8, learning_rate=5e-2, load_in_4bit=False, seed=seed, save_steps=1000,
                      max_length=64, warmup_steps=0, template=template)
    prepared = prepare(root / "run", cfg)
    prepared.trainer.train()
    out = root / "adapter"
    prepared.trainer.save_model(str(out))
    prepared.tokenizer.save_pretrained(out)
    prepared.contract.save(out)
    return out


_TRAINED: dict[tuple, Path] = {}   # (kind, seed, template) -> a folder with base-<kind>/ and train/ (one per session)


def _trained_once(kind: str, seed: int, template: str) -> Path:
    """Train a tiny adapter once per session for these settings; later runs copy it (training is not what the tests
    that need a finished run are about)."""
    import atexit
    import shutil
    import tempfile

    from studio.tiny import save_tiny_model
    key = (kind, seed, template)
    if key not in _TRAINED:
        cache = Path(tempfile.mkdtemp(prefix="studio-trained-"))
        atexit.register(shutil.rmtree, cache, True)
        train_adapter(cache / "train", save_tiny_model(cache / f"base-{kind}", kind), seed, template)
        _TRAINED[key] = cache
    return _TRAINED[key]


def passed(check_line: str) -> bool:
    """An export check's line (English) that passed; llama.cpp's cross-check is "not checked" where it is not
    installed (CI), and must pass where it is."""
    return check_line.startswith("ok") or check_line.startswith("--  llama.cpp: not checked: llama-cpp-python is not")


def finished_run(root, kind: str = "chatml", seed: int = 1, name: str = "20260101-000000-ayano",
                 template: str = "model"):
    """A finished run folder (adapter + the persona snapshot it trained on) over a tiny base of `kind` in
    root/base-<kind>: copies of one adapter trained per session, its contract pointing at this root's base."""
    import json
    import shutil

    from studio.jobs.folders import Run
    from studio.jobs.status import write_status
    cache = _trained_once(kind, seed, template)
    model = Path(root) / f"base-{kind}"
    if not model.exists():
        shutil.copytree(cache / f"base-{kind}", model)
    run = Run(Path(root) / "runs" / name)
    run.path.mkdir(parents=True)
    shutil.copytree(cache / "train" / "adapter", run.adapter)
    shutil.copytree(cache / "train" / "p", run.data)
    contract = json.loads((run.adapter / "contract.json").read_text(encoding="utf-8"))
    contract["base_model"] = contract["base_model_path"] = str(model)
    (run.adapter / "contract.json").write_text(json.dumps(contract, ensure_ascii=False, indent=1), encoding="utf-8")
    from studio.train.config import TrainConfig  # the settings train_adapter used, as a real run keeps them
    run.config.write_text(TrainConfig(model=str(model), data=str(run.data), max_steps=5, batch_size=4, grad_accum=1,
                                      lora_r=4, lora_alpha=8, learning_rate=5e-2, load_in_4bit=False, seed=seed,
                                      max_length=64, warmup_steps=0, template=template).to_yaml(), encoding="utf-8")
    write_status(run.path, state="finished", step=5, total=5)
    return run


def serving(app):
    """Serve an ASGI app on a free loopback port in a thread: yields its base URL, stops it afterwards."""
    import contextlib
    import socket
    import threading
    import time

    import uvicorn

    @contextlib.contextmanager
    def run():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=srv.run, daemon=True)
        thread.start()
        deadline = time.time() + 30
        while not srv.started:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            srv.should_exit = True
            thread.join(10)
    return run()


def cli(*args: str, env: dict | None = None):
    """`python -m studio ARGS` in this process (the command's own main, its exit code, stdout and stderr): the same
    contract the subprocess tests checked, without paying the library imports for every call."""
    import contextlib
    import io
    import os
    from types import SimpleNamespace

    from studio.cli.main import main
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:   # argparse's usage errors
                code = e.code if isinstance(e.code, int) else 2
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())
