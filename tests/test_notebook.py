"""examples/backprop.ipynb runs from top to bottom (nbclient) and shows its figures inline."""

from __future__ import annotations

import os

import pytest

import nbclient  # the test extra (pyproject.toml): a broken install fails, it does not skip
import nbformat  # a dependency

from conftest import REPO

NOTEBOOK = REPO / "examples" / "backprop.ipynb"


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(str(NOTEBOOK), as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_runs_and_plots_inline(data_root, monkeypatch):
    monkeypatch.setenv("HANDPROP_DATA", str(data_root))
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    notebook = nbformat.read(str(NOTEBOOK), as_version=4)
    # One epoch instead of the notebook's two: the same code runs, in half the training time.
    training = [c for c in notebook.cells if c.cell_type == "code" and "handprop.train(epochs=2," in c.source]
    assert len(training) == 1
    training[0].source = training[0].source.replace("handprop.train(epochs=2,", "handprop.train(epochs=1,")
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    outputs = {c.source.strip(): c.outputs for c in notebook.cells if c.cell_type == "code"}
    assert any("image/png" in o.get("data", {}) for o in outputs["run.plot()"])  # the Figure shows inline
    text = "".join(o.get("text", "") for cell in outputs.values() for o in cell)
    assert "epoch 1: train cost" in text and "hidden layer 1: weights and biases wrong" in text
    assert "σ(z) is used where σ′(z) belongs" in text  # check_backprop names the notebook's mistake


def test_notebook_without_data_stops_with_one_line(tmp_path, monkeypatch):
    """No HANDPROP_DATA and an empty default: the loading cell ends in one line saying where to look."""
    monkeypatch.delenv("HANDPROP_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "empty"))
    notebook = nbformat.read(str(NOTEBOOK), as_version=4)
    notebook.cells = [c for c in notebook.cells if c.cell_type == "code"][:2]  # the imports and the loading cell
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(nbclient.exceptions.CellExecutionError):
        client.execute()
    errors = [o for o in notebook.cells[1].outputs if o.get("output_type") == "error"]
    assert len(errors) == 1 and errors[0]["ename"] == "SystemExit"
    message = errors[0]["evalue"]
    assert "\n" not in message and message.startswith("MNIST files missing from ")
    assert str(tmp_path / "empty" / "handprop") in message and "HANDPROP_DATA=DIR" in message
