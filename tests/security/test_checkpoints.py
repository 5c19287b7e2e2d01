"""Checkpoints are read with ``torch.load(weights_only=True)``: a checkpoint whose pickle would
run code (a ``__reduce__`` payload) is refused, and the code never runs."""

from __future__ import annotations

import ast
import os
import pickle
from pathlib import Path

import pytest
import torch

from models_core.nn.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, load_trained

ROOT = Path(__file__).resolve().parents[2]


class Payload:
    """Unpickling this makes a directory: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def malicious_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "code-ran"
    path = tmp_path / "last.pt"
    torch.save(
        {"format": CHECKPOINT_FORMAT, "version": 1, "model": {}, "extra": Payload(marker)}, path
    )
    return path, marker


def test_the_payload_would_run_under_a_plain_unpickler(tmp_path):
    """The test's own check: without weights_only the payload does run."""
    path, marker = malicious_checkpoint(tmp_path)
    torch.load(path, weights_only=False)
    assert marker.is_dir()


@pytest.mark.parametrize("loader", [load_checkpoint, load_trained])
def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path, loader):
    path, marker = malicious_checkpoint(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        loader(path)
    assert not marker.exists()


def torch_load_calls() -> list[tuple[Path, ast.Call]]:
    calls = []
    for folder in ("models_core", "surveys", "autogen"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "load"
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "torch"
                ):
                    calls.append((path, node))
    return calls


def test_every_torch_load_in_the_product_passes_weights_only_true():
    calls = torch_load_calls()
    assert calls, "the scan should find checkpoint.py's torch.load"
    for path, call in calls:
        flags = {k.arg: k.value for k in call.keywords}
        where = f"{path.relative_to(ROOT)}:{call.lineno}"
        assert "weights_only" in flags, where
        assert isinstance(flags["weights_only"], ast.Constant), where
        assert flags["weights_only"].value is True, where


def test_no_product_code_unpickles():
    for folder in ("models_core", "surveys", "autogen"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            assert "pickle.load" not in text and "pickle.loads" not in text, path
