"""Truncated training files are recognised before torch tries to load them."""
import json
import zipfile

import numpy as np
from safetensors.numpy import save_file

from studio.core.integrity import adapter_problem, checkpoint_problem, safetensors_problem


def make_checkpoint(folder, step=4):
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (folder / "adapter_config.json").write_text(json.dumps({"r": 4}))
    save_file({"a": np.ones((8, 8), dtype=np.float32), "b": np.zeros(3, dtype=np.float32)},
              str(folder / "adapter_model.safetensors"))
    with zipfile.ZipFile(folder / "optimizer.pt", "w") as z:
        z.writestr("data.pkl", b"x" * 1000)
    return folder


def cut(path, keep):
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:len(data) + keep])


def test_whole_checkpoint_passes(tmp_path):
    assert checkpoint_problem(make_checkpoint(tmp_path / "c")) is None


def test_truncated_safetensors(tmp_path):
    ckpt = make_checkpoint(tmp_path / "c")
    weights = ckpt / "adapter_model.safetensors"
    cut(weights, -10)
    assert "truncated" in safetensors_problem(weights)
    assert "adapter_model.safetensors" in checkpoint_problem(ckpt)
    cut(weights, 5)
    assert "shorter than a safetensors header" in adapter_problem(ckpt)
    weights.write_bytes((10**9).to_bytes(8, "little") + b"{}")
    assert "runs past the end" in safetensors_problem(weights)
    weights.unlink()
    assert "missing" in adapter_problem(ckpt)


def test_damaged_trainer_state_and_optimizer(tmp_path):
    ckpt = make_checkpoint(tmp_path / "c")
    cut(ckpt / "optimizer.pt", -30)
    assert checkpoint_problem(ckpt) == "optimizer.pt is damaged (truncated)"
    ckpt = make_checkpoint(tmp_path / "d")
    (ckpt / "trainer_state.json").write_text('{"global_st')
    assert "trainer_state.json cannot be read" in checkpoint_problem(ckpt)
    (ckpt / "trainer_state.json").unlink()
    assert "did not finish" in checkpoint_problem(ckpt)


def test_adapter_config_unreadable(tmp_path):
    ckpt = make_checkpoint(tmp_path / "c")
    (ckpt / "adapter_config.json").write_text("{")
    assert "adapter_config.json cannot be read" in adapter_problem(ckpt)
