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
