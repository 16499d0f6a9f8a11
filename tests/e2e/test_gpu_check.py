"""The GPU acceptance check runs end to end on the CPU with tiny shapes (its --dry-run), so it is ready the moment a
GPU machine is lent."""
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow   # trains a model, loads real ones or drives a browser (the whole suite runs it)


@pytest.mark.slow
def test_the_gpu_check_dry_run_passes_and_writes_its_table(tmp_path):
    out = tmp_path / "check.json"
    proc = subprocess.run([sys.executable, "-m", "bench.gpu_check", "--dry-run", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    status = {r["step"].split(" (")[0]: r["status"] for r in report["rows"]}
    for step in ("model and data", "train through the launcher", "stop and resume", "throughput: plain",
                 "throughput: ours padding-free", "merge onto the unquantized base", "GGUF q8_0 export",
                 "chat first-token latency"):
        assert status.get(step) == "ok", (step, status)
    assert report["throughput"]["plain"]["tokens_per_s_vs_plain"] == 1.0
    assert "| variant | tokens/s" in proc.stdout


def test_without_a_gpu_the_real_check_says_so():
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the real check would run")
    proc = subprocess.run([sys.executable, "-m", "bench.gpu_check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "No GPU here" in proc.stdout
