import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
SAMPLE = ROOT / "data" / "personas" / "ayano"


@pytest.fixture
def sample_dir() -> Path:
    return SAMPLE


def launch_app():
    """Build and launch the studio exactly as app.py does (same queue settings); returns (demo, url)."""
    from studio.ui.app import QUEUE, build_app
    demo, i18n = build_app()
    _, url, _ = demo.queue(**QUEUE).launch(prevent_thread_lock=True, server_name="127.0.0.1", i18n=i18n, quiet=True)
    return demo, url
