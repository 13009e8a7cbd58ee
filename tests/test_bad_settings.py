"""The newer surfaces refuse bad input in one line (issue 21): one validation per setting for the
command line, the course file and the Python API; notebooks as IPython runs them; check_backprop and
``handprop check FILE`` judging alike. One test (or more) per row; a property test on course files.
"""

from __future__ import annotations

import json
import math
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import handprop
from handprop.cli import main
from handprop.grading import GradingConfig
from handprop.grading.bundle import config_to_dict
from handprop.grading.config import CONFIG_KEYS, LIMIT_KEYS, config_from_settings, read_config_file
from handprop.grading.grader import grade_file

from grading_helpers import REFERENCE, fast_config

nbformat = pytest.importorskip("nbformat")


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# -- rows 13, 18, 19: bounds, with the key (or flag) named -----------------------------------------


@pytest.mark.parametrize(
    "toml, words",
    [
        ("[limits]\nmemory_mb = 1000000000000000\n", "limits.memory_mb"),
        ("[limits]\ntimeout = 1e-9\n", "limits.timeout"),
        ("[limits]\nmax_processes = 99999999999\n", "limits.max_processes"),
        ("[points]\nbackprop = 1e308\nfeedforward = 1e308\n", "points"),
        ("[points]\nbackprop = 900000\nfeedforward = 900000\n", "add up to 1.8e+06"),
        ("seed = -1\n", "seed"),
        ("cases = 1000\n", "cases"),
        ("rtol = 2.0\n", "rtol"),
    ],
    ids=["13-memory", "19-timeout", "13-processes", "18-points-1e308", "18-points-total", "seed", "cases", "rtol"],
)
def test_a_course_file_value_out_of_bounds_is_one_line_naming_the_key(toml, words, tmp_path, capsys):
    course = tmp_path / "course.toml"
    course.write_text(toml)
    (tmp_path / "s.py").write_text(REFERENCE)
    err = one_line_error(capsys, ["grade", str(tmp_path / "s.py"), "--config", str(course)])
    assert words in err and str(course) in err


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--memory-mb", "9999999999999"], "--memory-mb must be an integer from 1 to 1048576"),
        (["--sandbox-uid", "4294967295"], "--sandbox-uid must be an integer from 0 to 4294967294"),
        (["--timeout", "1e-9"], "--timeout must be a number of seconds from 0.5 to 3600"),
        (["--points", "backprop=1e308", "--points", "feedforward=1e308"], "--points backprop must be a finite number of points"),
        (["--max-processes", "0"], "--max-processes must be an integer from 1"),
    ],
    ids=["13-memory-mb", "13-sandbox-uid", "19-timeout", "18-points", "processes"],
)
def test_a_flag_out_of_bounds_is_one_line_naming_the_flag(flags, words, tmp_path, capsys):
    (tmp_path / "s.py").write_text(REFERENCE)
    assert words in one_line_error(capsys, ["grade", str(tmp_path / "s.py"), *flags])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"memory_mb": 10**15}, "memory_mb must be an integer from 1 to"),
        ({"uid": 2**32 - 1}, "uid must be an integer from 0 to"),
        ({"timeout": 1e-9}, "timeout must be a number of seconds from 0.5"),
    ],
)
def test_the_python_api_uses_the_same_checks(kwargs, words):
    from handprop.grading import SandboxLimits

    with pytest.raises(ValueError, match=words):
        SandboxLimits(**kwargs)


def test_check_file_and_check_backprop_share_the_bounds(tmp_path, capsys):
    (tmp_path / "hw.py").write_text(REFERENCE)
    assert "--timeout must be a number of seconds from 0.5" in one_line_error(capsys, ["check", str(tmp_path / "hw.py"), "--timeout", "1e-9"])
    assert "--cases must be an integer from 1 to 100" in one_line_error(capsys, ["check", str(tmp_path / "hw.py"), "--cases", "101"])
    with pytest.raises(ValueError, match="cases must be an integer from 1 to 100"):
        handprop.check_backprop(lambda w, b, x, y: None, cases=101)


# -- row 7: forbidden imports, preloaded or not ----------------------------------------------------


@pytest.mark.parametrize("module", ["json", "math", "collections"])
def test_row7_a_forbidden_module_is_refused_even_when_the_sandbox_preloaded_it(module, tmp_path):
    (tmp_path / "s.py").write_text(f"import {module}\n" + REFERENCE)
    allowed = grade_file(tmp_path / "s.py", fast_config())
    assert allowed.score == allowed.max_score
    from handprop.grading import SandboxLimits

    config = GradingConfig(sandbox=SandboxLimits(timeout=3.0, forbidden_imports=("torch", module)))
    forbidden = grade_file(tmp_path / "s.py", config)
    assert forbidden.score == 0 and f"{module} is not available to submissions" in forbidden.output


def test_row7_a_course_file_may_not_forbid_what_the_sandbox_must_load(tmp_path, capsys):
    course = tmp_path / "course.toml"
    course.write_text('[limits]\nforbidden_imports = ["numpy", "math", "json", "collections"]\n')
    err = one_line_error(capsys, ["grade", "--template", "-", "--config", str(course)])
    assert "limits.forbidden_imports" in err and "cannot hold numpy" in err


# -- rows 8, 20: one judging path for check_backprop and check FILE ----------------------------------


BAD_VALUES = {
    "complex": "[w.astype(complex) for w in nw], nb",
    "string": "[w.astype(str) for w in nw], nb",
    "object": "[w.astype(object) for w in nw], nb",
}


@pytest.mark.parametrize("kind", list(BAD_VALUES))
def test_row8_complex_string_and_object_gradients_are_refused_alike_in_and_out_of_the_sandbox(kind, tmp_path):
    source = REFERENCE + f"\n\n_right = backprop\n\ndef backprop(weights, biases, x, y):\n    nw, nb = _right(weights, biases, x, y)\n    return {BAD_VALUES[kind]}\n"
    path = tmp_path / "hw.py"
    path.write_text(source)
    namespace: dict = {}
    exec(compile(source, str(path), "exec"), namespace)
    in_process = handprop.check_backprop(namespace["backprop"], cases=2)
    in_sandbox = handprop.learner.check_file(path, functions=["backprop"], cases=2)
    assert not in_process.ok and not in_sandbox.ok
    assert [(c.status, c.message) for c in in_process.cases] == [(c.status, c.message) for c in in_sandbox.cases]
    assert in_process.cases[0].status == "badreturn" and "dtype" in in_process.cases[0].message


def test_row20_system_exit_in_the_learners_function_is_an_exception_of_the_case():
    def backprop(weights, biases, x, y):
        raise SystemExit(3)

    report = handprop.check_backprop(backprop, cases=2)
    assert not report.ok and all(c.status == "exception" and c.message == "SystemExit: 3" for c in report.cases)


def test_row20_train_progress_is_type_checked():
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        handprop.train(progress="no")


def test_row20_final_of_a_run_without_epochs_does_not_contradict_itself():
    from handprop.api import Run
    from handprop.training import TrainConfig

    run = Run(config=TrainConfig(epochs=3), backend="handprop", parameters={}, history={"handprop": []})
    with pytest.raises(ValueError) as caught:
        run.final()
    assert str(caught.value) == "no epoch of this run has finished yet (0 of 3), so it has no final or best epoch"
    with pytest.raises(ValueError, match="backend 'torch' did not train in this run .it has: handprop."):
        run.final("torch")


# -- row 10: no tag unless it reproduces the numbers -------------------------------------------------


def test_row10_gradients_near_the_float_range_get_no_tag_and_no_warning():
    def backprop(weights, biases, x, y):  # filterwarnings=error: an overflow warning fails the test
        return [np.full(w.shape, 1e307) for w in weights], [np.full(b.shape, -1e307) for b in biases]

    report = handprop.check_backprop(backprop, cases=3)
    assert not report.ok and all(c.tags == [] for c in report.cases)
    assert all("None of the catalogued mistakes reproduces these numbers" in c.diagnosis for c in report.cases)


# -- rows 11, 12, 15, 17: notebooks -----------------------------------------------------------------


def notebook(*cells: str, outputs: list | None = None) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    if outputs:
        nb.cells[-1].outputs = outputs
    return nbformat.writes(nb)


def test_row12_a_notebook_scores_what_its_code_scores(tmp_path):
    cells = ["import numpy as np", REFERENCE, "K = (7\n     % 3)", "files = !ls", "np.dot?", "%time b = 2\nassert b == 2 and K == 1"]
    (tmp_path / "hw.ipynb").write_text(notebook(*cells))
    (tmp_path / "hw.py").write_text("import numpy as np\n" + REFERENCE + "\nK = (7\n     % 3)\nb = 2\n")
    nb, py = grade_file(tmp_path / "hw.ipynb", fast_config()), grade_file(tmp_path / "hw.py", fast_config())
    assert py.score == py.max_score and nb.score == py.score, nb.output
    assert "files = !ls" in nb.output and "np.dot?" in nb.output  # noted as not run
    assert "% 3)" not in nb.output and "%time" not in nb.output  # Python, and a magic whose code ran: not noted


def test_row11_outputs_do_not_count_against_the_size_limit(tmp_path):
    image = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "A" * 3_000_000}}
    (tmp_path / "hw.ipynb").write_text(notebook(REFERENCE, outputs=[nbformat.v4.new_output(**image)]))
    assert (tmp_path / "hw.ipynb").stat().st_size > 3_000_000
    report = grade_file(tmp_path / "hw.ipynb", fast_config())
    assert report.score == report.max_score


def test_row11_a_notebook_too_large_even_so_says_clear_outputs(tmp_path, capsys):
    image = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "A" * 21_000_000}}
    (tmp_path / "hw.ipynb").write_text(notebook(REFERENCE, outputs=[nbformat.v4.new_output(**image)]))
    assert "clear its outputs" in one_line_error(capsys, ["grade", str(tmp_path / "hw.ipynb")])


def _raw_notebook(cell: dict) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]})


def test_row15_a_cell_that_is_not_text_is_one_line_and_no_log_dump(tmp_path, capfd):
    cell = {"cell_type": "code", "id": "a", "metadata": {}, "outputs": [], "execution_count": None, "source": {"def f": "()"}}
    (tmp_path / "hw.ipynb").write_text(_raw_notebook(cell))
    err = one_line_error(capfd, ["grade", str(tmp_path / "hw.ipynb")])  # capfd: nbformat's log handler writes to the real stderr
    assert "hw.ipynb is not a readable notebook: the source of cell 1 is not text" in err


@pytest.mark.parametrize("change", ["no-outputs", "extra-key"])
def test_row15_a_slightly_invalid_notebook_is_graded_quietly(change, tmp_path):
    import subprocess
    import sys

    cell = {"cell_type": "code", "id": "a", "metadata": {}, "outputs": [], "execution_count": None, "source": REFERENCE}
    if change == "no-outputs":
        del cell["outputs"]
    else:
        cell["extra"] = 1
    (tmp_path / "hw.ipynb").write_text(_raw_notebook(cell))
    # a fresh process: nbformat's log handler holds the stderr of the moment it was made
    graded = subprocess.run([sys.executable, "-m", "handprop", "grade", str(tmp_path / "hw.ipynb"), "--timeout", "3", "--cases", "1"],
                            capture_output=True, text=True, timeout=300)
    assert graded.returncode == 0 and graded.stderr == "" and "10 / 10" in graded.stdout, graded.stderr


def test_row17_a_syntax_error_names_the_students_file_and_cell(tmp_path, capsys):
    (tmp_path / "hw.ipynb").write_text(notebook("import numpy as np", REFERENCE, "x = 1\ny = (2\nz = 3 +"))
    report = grade_file(tmp_path / "hw.ipynb", fast_config())
    assert 'File "hw.ipynb", cell 3, line' in report.output and "submission.py" not in report.output
    (tmp_path / "hw.py").write_text(REFERENCE + "\ndef broken(:\n    pass\n")
    line = REFERENCE.count("\n") + 2
    report = grade_file(tmp_path / "hw.py", fast_config())
    assert f'File "hw.py", line {line}' in report.output and "submission.py" not in report.output
    err = one_line_error(capsys, ["check", str(tmp_path / "hw.ipynb")])
    assert "hw.ipynb is not valid Python (cell 3, line" in err


# -- a property: any course file is a valid configuration or one line ---------------------------------


SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(alphabet=string.ascii_letters + string.digits + "_-. ", max_size=12),
    st.sampled_from(["network", "chain-rule", "layers", "relu", "softmax", "cross_entropy", "bwrap", "none", "hidden", "numpy", "math"]),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4))
KEYS = st.sampled_from(list(CONFIG_KEYS) + ["backprop", "feedforward", "sigmoid", "hidden", "output", "cost", "bogus"])
TABLE = st.dictionaries(st.sampled_from(list(LIMIT_KEYS) + ["backprop", "feedforward", "sigmoid", "sigmoid_prime", "hidden", "output", "cost", "uid"]), VALUES, max_size=4)
COURSE = st.dictionaries(KEYS, st.one_of(VALUES, TABLE), max_size=6)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def toml_text(course: dict) -> str:
    plain = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in course.items() if not isinstance(v, dict)]
    tables = [f"[{json.dumps(k)}]\n" + "".join(f"{json.dumps(kk)} = {toml_value(vv)}\n" for kk, vv in v.items()) for k, v in course.items() if isinstance(v, dict)]
    return "\n".join(plain) + "\n" + "\n".join(tables)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(course=COURSE, garbage=st.one_of(st.none(), st.binary(max_size=40)))
def test_any_course_file_is_a_valid_configuration_or_one_line(course, garbage, tmp_path_factory, capsys):
    path = Path(tmp_path_factory.mktemp("course")) / "course.toml"
    path.write_bytes(garbage if garbage is not None else toml_text(course).encode())
    capsys.readouterr()
    code = main(["grade", "--template", "-", "--config", str(path)])  # settles the whole configuration, grades nothing
    err = capsys.readouterr().err
    assert code in (0, 2)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("handprop grade: error: ") and "Traceback" not in err
        return
    config = config_from_settings(read_config_file(path))
    # everything accepted can be used: written for Gradescope, scored in JSON, handed to the kernel
    json.dumps(config_to_dict(config), allow_nan=False)
    assert math.isfinite(config.max_score) and config.max_score <= 1e6
    assert config.sandbox.memory_mb * 2**20 < 2**63 and config.sandbox.max_file_mb * 2**20 < 2**63
    assert 0.5 <= config.sandbox.timeout <= 3600
