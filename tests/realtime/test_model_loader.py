"""The realtime loader refuses every bad artifact with a message that says what is wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from export.contract import METADATA_KEY, ArtifactError
from realtime.model import load_model
from trainer.run_dir import RunDir


def test_loads_an_exported_artifact(exported: tuple[RunDir, Path]) -> None:
    _, path = exported
    model = load_model(path)
    meta = model.meta
    feeds = {
        "f0_hz": np.array([[220.0]], np.float32),
        "loudness_db": np.array([[-20.0]], np.float32),
        "z": np.zeros((1, meta.z_dim), np.float32),
        "gru_state": np.zeros((meta.gru_layers, 1, meta.gru_hidden), np.float32),
        "nca_state": np.asarray([meta.nca_seed_state], np.float32),
        "nca_step": np.ones(1, np.float32),
        "nca_fire": np.ones((1, 1, 64), np.float32),
    }
    amps, noise, mask, gru, nca, full = model.session.run(None, feeds)
    assert gru.shape == (1, 1, 192) and nca.shape == (1, 16, 64)
    assert amps.shape == (1, 64) and noise.shape == (1, 64) and mask.shape == (1, 64)
    assert full.shape == (1, 64) and (full > 0).sum() > (amps > 0).sum()  # unmasked: all sound
    assert np.all(amps >= 0) and np.all(noise > 0)
    assert amps[0, 1:].sum() == pytest.approx(0.0, abs=1e-6) or mask[0, 1:].max() > 0
    # the batch axis: three voices in one call, each row what it gives alone
    three = {
        k: np.concatenate([v] * 3, axis=1 if k == "gru_state" else 0) for k, v in feeds.items()
    }
    three["f0_hz"] = np.array([[220.0], [330.0], [440.0]], np.float32)
    batch = model.session.run(None, three)
    assert batch[0].shape == (3, 64) and batch[3].shape == (1, 3, 192)
    assert np.abs(batch[0][:1] - amps).max() <= 1e-6 and np.abs(batch[0][2] - amps[0]).max() > 1e-4


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"nope\.onnx: no such file"):
        load_model(tmp_path / "nope.onnx")


def test_a_run_directory_or_a_checkpoint_is_not_a_model(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    with pytest.raises(ArtifactError, match=r"is a folder, not a model; a grow-train run: export"):
        load_model(run)
    checkpoint = run / "checkpoint.pt"
    checkpoint.write_bytes(b"PK\x03\x04 a zip")
    with pytest.raises(ArtifactError, match=r"checkpoint\.pt is a PyTorch checkpoint"):
        load_model(checkpoint)


def test_file_that_is_not_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "notes.onnx"
    bad.write_text("hello, not a protobuf\n" * 30)
    with pytest.raises(ArtifactError, match=r"notes\.onnx is not an ONNX model") as caught:
        load_model(bad)
    assert "protobuf" not in str(caught.value).lower()


def test_onnx_graph_that_is_not_ours(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "other", [x], [y])
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ArtifactError, match="not a Timbre Grower artifact"):
        load_model(path)


def _with_metadata(source: Path, target: Path, edit: dict) -> Path:
    model = onnx.load(str(source))
    entry = next(p for p in model.metadata_props if p.key == METADATA_KEY)
    entry.value = json.dumps({**json.loads(entry.value), **edit})
    onnx.save(model, str(target))
    return target


def test_unknown_metadata_version(exported: tuple[RunDir, Path], tmp_path: Path) -> None:
    _, path = exported
    future = _with_metadata(path, tmp_path / "future.onnx", {"format_version": 7})
    with pytest.raises(ArtifactError, match="format version 7 is not supported"):
        load_model(future)


def test_metadata_that_contradicts_the_graph(exported: tuple[RunDir, Path], tmp_path: Path) -> None:
    _, path = exported
    wrong = _with_metadata(path, tmp_path / "wrong.onnx", {"gru_hidden": 100})
    with pytest.raises(
        ArtifactError, match=r"gru_state has shape \[1, 'voices', 192\], the metadata"
    ):
        load_model(wrong)


def test_a_format_3_graph_with_a_fixed_batch_is_refused(
    exported: tuple[RunDir, Path], tmp_path: Path
) -> None:
    """It would load, then fail the first time two voices sound: refused at load instead."""
    model = onnx.load(str(exported[1]))
    f0 = next(i for i in model.graph.input if i.name == "f0_hz")
    f0.type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(model, str(tmp_path / "fixed.onnx"))
    with pytest.raises(ArtifactError, match="input f0_hz has a fixed batch of 1; a format-3"):
        load_model(tmp_path / "fixed.onnx")


def test_loader_does_not_import_torch(exported: tuple[RunDir, Path]) -> None:
    _, path = exported
    code = (
        f"import sys; from realtime.model import load_model; load_model({str(path)!r}); "
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('trainer')]; "
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_no_realtime_module_imports_torch() -> None:
    """The live side must run where torch is not installed: import every realtime module."""
    code = (
        "import importlib, pkgutil, sys, realtime; "
        "[importlib.import_module('realtime.' + m.name) "
        "for m in pkgutil.iter_modules(realtime.__path__)]; "
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('trainer')]; "
        "assert not bad, bad; print(len([m for m in sys.modules if m.startswith('realtime.')]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 20  # every module was imported
