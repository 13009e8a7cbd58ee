"""Check your own backprop: ``handprop.check_backprop`` in process, ``handprop check FILE`` in the sandbox."""

from __future__ import annotations

import functools
import re
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import handprop
from handprop.cli import main
from handprop.learner import check_backprop, load_case

from conftest import REPO
from grading_helpers import REFERENCE, mutate

# σ(z) where the hidden layers' δ needs σ′(z): the output layer stays right, every hidden layer is wrong
SIGMA_NOT_PRIME = ("delta = (delta @ weights[-l + 1]) * sigmoid_prime(zs[-l])", "delta = (delta @ weights[-l + 1]) * sigmoid(zs[-l])")
SUMMED = ("* sigmoid_prime(zs[-1]) / n", "* sigmoid_prime(zs[-1])")


def learner_file(tmp_path, *changes, name="hw.py"):
    path = tmp_path / name
    path.write_text(mutate(REFERENCE, *changes), encoding="utf-8")
    return path


def backprop_of(path):
    return runpy.run_path(str(path))["backprop"]


def layer_results(rows):
    """{(kind, layer): passed} from a case's rows, e.g. {("W", 1): False, ("b", 2): True}."""
    return {(r.name[-2], int(r.name[-1])): r.passed for r in rows}


def assert_hidden_fail_output_passes(cases):
    for case in cases:
        results = layer_results(case.rows)
        L = max(layer for _, layer in results)
        for (kind, layer), passed in results.items():
            assert passed == (layer == L), (case.title, kind, layer)


def test_a_correct_backprop_passes_in_process(tmp_path):
    report = handprop.check_backprop(backprop_of(learner_file(tmp_path)))
    assert report.ok, report
    assert len(report.cases) == 5 and all(r.max_rel <= 1e-12 for _, r in report.rows)


def test_sigma_for_sigma_prime_fails_in_the_hidden_layers_only(tmp_path):
    report = check_backprop(backprop_of(learner_file(tmp_path, SIGMA_NOT_PRIME)))
    assert not report.ok
    assert_hidden_fail_output_passes(report.cases)
    failing = report.failures
    assert failing and all("hidden layer 1: weights and biases wrong" in c.diagnosis for c in failing)
    assert all("BP2" in c.diagnosis for c in failing)
    # named: the catalogued mistake the grader tags too (examples/learner_sigma_mistake.py, docs/engine.md)
    assert all(c.tags == ["activation-instead-of-derivative"] and "σ(z) is used where σ′(z) belongs" in c.diagnosis for c in failing)
    assert not any("None of the catalogued mistakes" in c.diagnosis for c in failing)
    assert "∂C/∂W1" in repr(report) and len(repr(report)) <= 240  # what pytest shows of `assert report.ok, report`
    assert re.search(r"^∂C/∂W1 .* FAIL$", str(report), flags=re.M)


def test_a_catalogued_mistake_is_named(tmp_path):
    report = check_backprop(backprop_of(learner_file(tmp_path, SUMMED)), cases=3)
    assert not report.ok and all(c.tags == ["missing-batch-mean"] for c in report.failures)
    assert all("n times too large" in c.diagnosis and "output layer" in c.diagnosis for c in report.failures)


def test_wrong_structure_and_exceptions_are_reported_per_case():
    def returns_one_list(weights, biases, x, y):
        return [w * 0 for w in weights]

    def raises(weights, biases, x, y):
        raise ZeroDivisionError("oops")

    assert {c.status for c in check_backprop(returns_one_list, cases=2).cases} == {"badreturn"}
    report = check_backprop(raises, cases=2)
    assert {c.status for c in report.cases} == {"exception"} and "ZeroDivisionError: oops" in str(report)
    assert "tensor  shape" not in report.table()  # no table of MISSING rows for a call that returned nothing
    assert "tensor  shape" in check_backprop(returns_one_list, cases=1).table()  # what came back is shown
    with pytest.raises(TypeError, match="expected a function"):
        check_backprop("backprop.py")


def test_check_file_exit_codes_table_and_saved_cases(tmp_path, capsys):
    good, bad = learner_file(tmp_path, name="good.py"), learner_file(tmp_path, SIGMA_NOT_PRIME, name="bad.py")
    assert main(["check", str(good), "--function", "backprop"]) == 0
    assert "5 of 5 cases of backprop match" in capsys.readouterr().out

    saved = tmp_path / "failing"
    assert main(["check", str(bad), "--function", "backprop", "--save-failing", str(saved)]) == 1
    out = capsys.readouterr().out
    # every table row: hidden layers' ∂C/∂W and ∂C/∂b fail, the output layer's pass
    blocks = [b for b in out.split("\n\n") if b.startswith("backprop: case")]
    assert len(blocks) == 5
    for block in blocks:
        rows = re.findall(r"^∂C/∂([Wb])(\d)\s.*\s(ok|FAIL)$", block, flags=re.M)
        L = max(int(layer) for _, layer, _ in rows)
        assert rows and all((result == "ok") == (int(layer) == L) for _, layer, result in rows), block
    npz = sorted(saved.glob("*.npz"))
    assert npz and len(npz) == sum("FAIL" in b for b in blocks)

    # the snippet reruns the failing case in a fresh Python session and shows the same failure
    snippet = npz[0].with_suffix(".py").read_text()
    assert len(snippet.strip().splitlines()) == 3
    rerun = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, cwd=REPO, check=True)
    case = load_case(npz[0])
    assert "MISMATCH" in rerun.stdout and "∂C/∂W1" in rerun.stdout
    assert set(case.expected) == set(case.got) and case.got["∂C/∂W1"].shape == case.expected["∂C/∂W1"].shape
    saved_block = next(b for b in blocks if b.startswith(f"backprop: case {case.number} "))
    assert saved_block.splitlines()[1:] == rerun.stdout.strip().splitlines()[1:]


def test_check_a_notebook(tmp_path, capsys):
    import nbformat  # a dependency: a broken install fails, it does not skip

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("%matplotlib inline"), nbformat.v4.new_code_cell(REFERENCE)]
    path = tmp_path / "hw.ipynb"
    nbformat.write(notebook, str(path))
    assert main(["check", str(path), "--function", "backprop", "--function", "sigmoid", "--cases", "2"]) == 0
    assert "4 of 4 cases of backprop, sigmoid match" in capsys.readouterr().out.replace("sigmoid, backprop", "backprop, sigmoid")

    notebook.cells[1] = nbformat.v4.new_code_cell(mutate(REFERENCE, SIGMA_NOT_PRIME))
    nbformat.write(notebook, str(path))
    saved = tmp_path / "failing"
    assert main(["check", str(path), "--function", "backprop", "--cases", "1", "--save-failing", str(saved)]) == 1
    # a notebook's snippet calls the function as defined where it is pasted: running it with python would fail
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.endswith(f"rerun one by pasting {saved / 'backprop_case1.py'} into your notebook, after the cell that defines the function")


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("def backprop(:\n", "is not valid Python (line 1)"),
        ("raise RuntimeError('boom')\n", "could not be imported: RuntimeError: boom"),
        ("x = 1\n", "defines none of the functions of assignment network (sigmoid, sigmoid_prime, feedforward, backprop"),
    ],
)
def test_missing_or_broken_file_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "hw.py"
    if content is not None:
        path.write_text(content)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--hidden", "relu"], "--hidden is for checking handprop's engine (without FILE); for your file's variant use --option hidden=relu"),
        (["--cost", "cross_entropy"], "use --option cost=cross_entropy"),
        (["--arch", "784-30-10"], "--arch is for checking handprop's engine (without FILE); a FILE is checked on the assignment's own cases"),
        (["--batch-size", "32"], "--batch-size is for checking handprop's engine"),
        (["--data-root", "data"], "--data-root is for checking handprop's engine"),
    ],
)
def test_engine_flags_with_a_file_are_refused_not_ignored(tmp_path, capsys, flags, message):
    """They would otherwise be silently ignored: the file checked for sigmoid while the learner asked for relu."""
    assert main(["check", str(learner_file(tmp_path)), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_changing_the_inputs_in_place_fails_the_case():
    from handprop import Network

    def in_place(weights, biases, x, y):
        grads = Network.from_parameters(weights, biases).backprop(x, y)
        weights[0] *= 0  # the caller's array
        return grads

    report = check_backprop(in_place, cases=2)
    assert not report.ok and all(c.modified == [0] and "modified-input" in c.tags for c in report.cases)
    assert all(r.passed for _, r in report.rows)  # the values themselves are right


def test_options_choose_the_graders_variant():
    from handprop import Network

    def engine(weights, biases, x, y):
        return Network.from_parameters(weights, biases, hidden="relu", output="softmax", cost="cross_entropy").backprop(x, y)

    assert check_backprop(engine, cases=2, hidden="relu", output="softmax", cost="cross_entropy").ok
    assert not check_backprop(engine, cases=2).ok  # against the default sigmoid/quadratic network
    with pytest.raises(ValueError, match="option hidden must be one of"):
        check_backprop(engine, hidden="swish")


def test_a_function_without_a_file_gets_a_snippet_to_paste_after_it(tmp_path):
    code = mutate(REFERENCE, SIGMA_NOT_PRIME)
    namespace: dict = {}
    exec(compile(code, "<notebook cell>", "exec"), namespace)  # as in a notebook: no file to load it from
    saved = check_backprop(namespace["backprop"], cases=2).save_failing(tmp_path)
    snippet = saved[0].with_suffix(".py").read_text()
    assert "runpy" not in snippet and "backprop(*case.args)" in snippet
    rerun = subprocess.run([sys.executable, "-c", code + "\n" + snippet], capture_output=True, text=True, cwd=REPO, check=True)
    assert "MISMATCH" in rerun.stdout


@functools.lru_cache(maxsize=1)
def saved_case_bytes() -> bytes:
    """A real --save-failing case (the σ-for-σ′ mistake), as bytes to damage."""
    report = check_backprop(backprop_of(learner_file(Path(tempfile.mkdtemp()), SIGMA_NOT_PRIME)), cases=1)
    return report.save_failing(tempfile.mkdtemp())[0].read_bytes()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_load_case_on_damaged_files_says_it_is_not_a_saved_case(tmp_path, data):
    """Random bytes, truncations and flipped bytes: a one-line ValueError naming the file, never NumPy's pickle advice."""
    original = saved_case_bytes()
    kind = data.draw(st.sampled_from(["random", "truncated", "flipped"]))
    if kind == "random":
        content = data.draw(st.binary(max_size=2000))
    elif kind == "truncated":
        content = original[: data.draw(st.integers(0, len(original) - 1))]
    else:
        flipped = bytearray(original)
        for at in data.draw(st.lists(st.integers(0, len(original) - 1), min_size=1, max_size=4)):
            flipped[at] ^= 0xFF
        content = bytes(flipped)
    path = tmp_path / "case.npz"
    path.write_bytes(content)
    if kind != "flipped":  # random bytes and a cut-off zip (its directory is at the end) can never load
        with pytest.raises(ValueError) as raised:
            load_case(path)
        error = raised.value
    else:  # a flipped byte may land where the zip does not look (or the CRC misses nothing)
        try:
            load_case(path)
            return
        except ValueError as caught:
            error = caught
    assert str(error).startswith(f"{path} is not a saved handprop case") and "\n" not in str(error), error


@pytest.mark.parametrize(
    "options,wrong_layer,says,never",
    [
        ({}, 1, "σ′(z) = σ(z)(1 − σ(z))", "relu′"),
        ({"hidden": "relu", "output": "softmax", "cost": "cross_entropy"}, 1, "relu′(z) = 1 where z > 0", "σ(z)(1 − σ(z))"),
        ({"hidden": "tanh"}, 1, "tanh′(z) = 1 − tanh²(z)", "σ(z)(1 − σ(z))"),
        ({"hidden": "relu", "output": "softmax", "cost": "cross_entropy"}, 3, "δ^L = (a^L − y)/n", "⊙ σ′(z^L)"),
        ({}, 3, "δ^L = ∇_a C ⊙ σ′(z^L), with σ′(z) = σ(z)(1 − σ(z))", "cancels"),
    ],
)
def test_the_layer_hints_use_the_equations_of_the_chosen_activations_and_cost(options, wrong_layer, says, never):
    """A ReLU network's learner must not be told to check the sigmoid's derivative (nor a softmax +
    cross-entropy one to multiply δ^L by σ′)."""
    from handprop.learner import TensorRow, layer_words

    rows = [
        TensorRow(f"∂C/∂{p}{l}", (2, 2), (2, 2), 0.0, 0.0, l > wrong_layer)
        for l in (1, 2, 3) for p in ("W", "b")
    ]  # layers ≤ wrong_layer wrong in weights and biases; the ones after it right
    words = layer_words(rows, options)
    assert says in words and never not in words, words
