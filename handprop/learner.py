"""Check your own backprop: a learner's functions against the engine, tensor by tensor.

    import handprop
    report = handprop.check_backprop(backprop)      # backprop(weights, biases, x, y) -> (nabla_w, nabla_b)
    print(report)                                   # a table per case, then the diagnosis in words
    assert report.ok, report                        # in the learner's own pytest

The cases, the expected values and the diagnosis come from the grader's assignment (the same
seeded cases as ``handprop grade``); unlike grading, this is the learner's own check, so the
expected values may be shown and saved (``report.save_failing(folder)``). ``handprop check FILE``
runs the same comparison on a file in the grading sandbox. Each returned tensor (each layer's
∂C/∂W and ∂C/∂b separately) gets its largest absolute and relative error, where the relative error
is max|got − expected| / max|expected|, the grader's measure.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

logger = logging.getLogger(__name__)

Array = np.ndarray
PathLike = Union[str, os.PathLike]

DEFAULT_RTOL = 1e-5  # the grader's default: float32 work passes, any real mistake does not
SAVED_FORMAT = "handprop-failing-case-v1"
_LAYER_TENSOR = re.compile(r"^∂C/∂([Wb])(\d+)$")
_SAVED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*_case\d+\.(npz|py)$")  # what save_failing writes


# ---------------------------------------------------------------------------------------------
# the report


@dataclass
class TensorRow:
    """One returned tensor of one case compared with the reference."""

    name: str  # e.g. "∂C/∂W1" (the math's layer numbers: 1 is the first weight layer)
    expected_shape: tuple[int, ...]
    shape: Optional[tuple[int, ...]]  # the learner's; None when nothing came back
    max_abs: float  # max|got − expected|; nan when the shapes differ
    max_rel: float  # max|got − expected| / max|expected|
    passed: bool

    @property
    def result(self) -> str:
        if self.passed:
            return "ok"
        if self.shape is None:
            return "MISSING"
        if self.shape != self.expected_shape:
            return f"SHAPE {_shape(self.shape)}"
        if math.isnan(self.max_abs):
            return "NaN/inf"
        return "FAIL"


@dataclass
class CaseCheck:
    """One case of one function: how the call went, each tensor's row, and the diagnosis."""

    function: str
    number: int
    description: str
    status: str  # ok | exception | badreturn | missing | timeout | import-error | crashed | unreadable
    message: str = ""  # the exception or what was wrong with the returned value
    rows: list[TensorRow] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # catalogued mistakes (handprop.grading.diagnose.TAGS)
    diagnosis: str = ""  # in words: which layer, weights or biases, which mistake
    args: list[Any] = field(default_factory=list, repr=False)
    expected: dict[str, Array] = field(default_factory=dict, repr=False)  # reference tensors by name
    got: dict[str, Array] = field(default_factory=dict, repr=False)  # the learner's tensors by name
    modified: list[int] = field(default_factory=list)  # arguments the call changed in place

    @property
    def passed(self) -> bool:
        return self.status == "ok" and bool(self.rows) and all(r.passed for r in self.rows) and not self.modified

    @property
    def title(self) -> str:
        return f"{self.function}: case {self.number} ({self.description})"


@dataclass
class BackpropReport:
    """Every case of every checked function. ``ok`` is True when every tensor of every case matches.

    ``print(report)`` shows a table per case and the diagnosis of each failing one;
    ``assert report.ok, report`` fails a test with a one-line summary (which tensors are wrong,
    which mistakes) short enough for pytest to show whole.
    """

    source: str
    assignment: str
    rtol: float
    cases: list[CaseCheck]
    seed: int = 0
    source_file: Optional[Path] = None  # the learner's file, for the reproducing snippets
    assignment_name: str = "network"
    options: dict[str, str] = field(default_factory=dict)
    sandbox: list[str] = field(default_factory=list)  # the grading sandbox's layers (a file's check)
    rerun: Optional[str] = None  # check_backprop: Python that defines the checked function again (rerun_lines)

    @property
    def ok(self) -> bool:
        return bool(self.cases) and all(c.passed for c in self.cases)

    @property
    def failures(self) -> list[CaseCheck]:
        return [c for c in self.cases if not c.passed]

    @property
    def rows(self) -> list[tuple[CaseCheck, TensorRow]]:
        """(case, row) for every tensor of every case."""
        return [(c, r) for c in self.cases for r in c.rows]

    def table(self) -> str:
        """One table per case, like ``handprop check``'s: every tensor's shape, errors and result."""
        blocks = []
        for case in self.cases:
            lines = [case.title + ("" if case.status == "ok" else f": {case.status}")]
            if case.message:
                lines.append("  " + case.message.strip().splitlines()[-1])
            if any(r.shape is not None for r in case.rows):  # a call that returned nothing has no table to show
                lines.append(_rows_table(case.rows, self.rtol))
            if case.modified:
                lines.append(f"  note: the call modified argument(s) {', '.join(map(str, case.modified))} in place")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)

    def summary(self) -> str:
        """One line: how many cases of which functions match, the tolerance and the seed."""
        passed = sum(c.passed for c in self.cases)
        functions = list(dict.fromkeys(c.function for c in self.cases))
        verdict = "all match" if self.ok else f"{len(self.cases) - passed} failing"
        return (
            f"{self.source}: {passed} of {len(self.cases)} cases of {', '.join(functions)} match the reference "
            f"({verdict}; tolerance {self.rtol:g} relative to each tensor's largest entry, seed {self.seed})"
        )

    def diagnosis(self) -> str:
        """The failing cases' diagnoses, one paragraph each (empty when everything matches)."""
        return "\n".join(f"{c.title}: {c.diagnosis}" for c in self.failures)

    def __repr__(self) -> str:
        # short on purpose: pytest shows ``assert report.ok, report`` through a repr cut at 240 characters
        if self.ok:
            return f"BackpropReport({self.source}: all {len(self.cases)} cases match)"
        failing = list(dict.fromkeys(r.name for c in self.failures for r in c.rows if not r.passed))
        tags = sorted({t for c in self.failures for t in c.tags})
        return (
            f"BackpropReport({len(self.failures)} of {len(self.cases)} cases fail; wrong: {', '.join(failing) or 'see the cases'}"
            f"{'; ' + ', '.join(tags) if tags else ''}; print(report) for the tables and diagnosis)"
        )

    def __str__(self) -> str:
        parts = [self.summary()]
        if self.sandbox:
            parts.append(f"sandbox: {', '.join(self.sandbox)}")
        parts += ["", self.table()]
        if not self.ok:
            parts += ["", "Diagnosis:", self.diagnosis()]
        return "\n".join(parts)

    def save_failing(self, folder: PathLike, overwrite: bool = False) -> list[Path]:
        """Each failing case as ``FUNCTION_caseN.npz`` (inputs, expected and learner's tensors) plus
        ``FUNCTION_caseN.py``, a snippet that reruns it; returns the .npz paths.

        ``folder`` must be new or empty, so that no earlier run's cases mix with these; with
        ``overwrite`` (``--force``) an earlier save's cases there are removed first (only those).
        """
        from .outputs import check_new_folder, write_text

        out = check_new_folder(folder, force=overwrite, what="the folder for failing cases",
                               hint="pass --force (overwrite=True) to replace earlier saved cases")
        if overwrite and out.is_dir():
            stale = [p for p in out.iterdir() if _SAVED_NAME.match(p.name) and p.is_file() and not p.is_symlink()]
            others = sorted(p.name for p in out.iterdir() if p not in stale)
            if others:  # force replaces what an earlier save wrote, never the learner's own files
                raise FileExistsError(f"{out} holds files that are not saved cases ({', '.join(others[:3])}); choose a new folder")
            for p in stale:
                p.unlink()
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for case in self.failures:
            path = save_case(case, out / f"{case.function}_case{case.number}.npz", self.assignment_name, self.options, self.rtol)
            write_text(path.with_suffix(".py"), reproduce_snippet(path, case.function, self.source_file, self.rerun))
            paths.append(path)
        return paths


def _shape(shape: Optional[Sequence[int]]) -> str:
    if shape is None:
        return "-"
    return "x".join(map(str, shape)) if len(shape) else "scalar"


def _rows_table(rows: Sequence[TensorRow], rtol: float) -> str:
    header = ("tensor", "shape", "max abs err", "max rel err", "tolerance", "result")
    cells = [
        (
            r.name, _shape(r.expected_shape),
            "-" if math.isnan(r.max_abs) else f"{r.max_abs:.2e}",
            "-" if math.isnan(r.max_rel) else f"{r.max_rel:.2e}",
            f"{rtol:.0e}", r.result,
        )
        for r in rows
    ]  # fmt: skip
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    right = {2, 3, 4}  # numbers right-aligned

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(c) for c in cells)])


def compare_tensors(expected: dict[str, Array], got: dict[str, Array], rtol: float) -> list[TensorRow]:
    """A row per expected tensor: errors when the shapes agree, else the shape it came back with.

    max_abs = max|got − expected| and max_rel = max|got − expected| / max|expected| (the grader's
    measure); a tensor passes when max_rel ≤ ``rtol``.
    """
    from .grading.diagnose import relative_error

    rows = []
    for name, e in expected.items():
        e = np.asarray(e, dtype=np.float64)
        g = got.get(name)
        if g is None:
            rows.append(TensorRow(name, e.shape, None, math.nan, math.nan, False))
            continue
        g = np.asarray(g)
        if g.shape != e.shape:
            rows.append(TensorRow(name, e.shape, g.shape, math.nan, math.nan, False))
            continue
        g = g.astype(np.float64)
        if not np.isfinite(g).all():
            rows.append(TensorRow(name, e.shape, g.shape, math.nan, math.nan, False))
            continue
        max_abs = float(np.max(np.abs(g - e))) if e.size else 0.0
        max_rel = relative_error(g, e)  # the grader's measure, so check and grade agree
        rows.append(TensorRow(name, e.shape, g.shape, max_abs, max_rel, max_rel <= rtol))
    return rows


# ---------------------------------------------------------------------------------------------
# where the mistake is, in words


# σ′ in the words of each hidden activation, for the hints below
PRIME_WORDS = {"sigmoid": "σ′(z) = σ(z)(1 − σ(z))", "tanh": "tanh′(z) = 1 − tanh²(z)", "relu": "relu′(z) = 1 where z > 0, else 0", "identity": "σ′(z) = 1"}


def _bp1_words(output: str, cost: str) -> str:
    """BP1 as it reads for this output activation and cost (the mean over the batch's n examples)."""
    if cost == "cross_entropy":  # softmax + categorical, or sigmoid + binary, cross-entropy: σ′ cancels
        return "δ^L = (a^L − y)/n: with cross-entropy after " + output + " the σ′ cancels"
    if output == "softmax":
        return "δ^L = the softmax Jacobian times ∇_a C, with the 1/n of the batch mean"
    return f"δ^L = ∇_a C ⊙ σ′(z^L), with {PRIME_WORDS.get(output, 'σ′')} and the 1/n of the batch mean"


def layer_words(rows: Sequence[TensorRow], options: Optional[Mapping[str, str]] = None) -> str:
    """Which layers are wrong, weights or biases, and which equation that points at.

    Works on tensors named ∂C/∂W<ℓ> and ∂C/∂b<ℓ> (the network assignments); empty otherwise.
    ``options`` (hidden, output, cost; default sigmoid, sigmoid, quadratic) choose the equations' words.
    """
    chosen = {"hidden": "sigmoid", "output": "sigmoid", "cost": "quadratic", **(options or {})}
    hidden, output, cost = chosen["hidden"], chosen["output"], chosen["cost"]
    layers: dict[int, dict[str, bool]] = {}
    for r in rows:
        m = _LAYER_TENSOR.match(r.name)
        if not m:
            return ""
        layers.setdefault(int(m.group(2)), {})[m.group(1)] = r.passed
    if not layers or all(all(parts.values()) for parts in layers.values()):
        return ""
    L = max(layers)

    def which(parts: dict[str, bool]) -> str:
        wrong = [("weights" if k == "W" else "biases") for k, ok in sorted(parts.items()) if not ok]
        return " and ".join(sorted(wrong, reverse=True))  # "weights and biases"

    described = []
    for l in sorted(layers, reverse=True):
        kind = "output layer" if l == L else "hidden layer"
        parts = layers[l]
        status = "right" if all(parts.values()) else f"{which(parts)} wrong"
        described.append(f"{kind} {l}: {status}")
    words = "Layer by layer, from the output back: " + "; ".join(described) + "."
    output_ok = all(layers[L].values())
    weights_ok = all(p.get("W", True) for p in layers.values())
    biases_ok = all(p.get("b", True) for p in layers.values())
    if not output_ok:
        hint = (
            f"The output layer is already wrong, so the mistake is in δ^L (BP1: {_bp1_words(output, cost)}) "
            "or in how its gradients are formed; every earlier layer inherits it."
        )
        if weights_ok:
            hint = "Only biases are wrong: check ∂C/∂b^ℓ = Σ_x δ^ℓ_x, summed over the examples (BP3)."
        elif biases_ok:
            hint = "Only weights are wrong: check ∂C/∂W^ℓ = δ^ℓᵀ a^(ℓ−1), shape (out, in) (BP4)."
    elif weights_ok:
        hint = "Only the hidden layers' biases are wrong: check ∂C/∂b^ℓ = Σ_x δ^ℓ_x (BP3)."
    elif biases_ok:
        hint = "Only the hidden layers' weights are wrong: check ∂C/∂W^ℓ = δ^ℓᵀ a^(ℓ−1) (BP4)."
    else:
        hint = (
            "The output layer is right, so δ^L is; the mistake enters when δ is carried back: check "
            f"δ^ℓ = (δ^(ℓ+1) W^(ℓ+1)) ⊙ σ′(z^ℓ) (BP2), with {PRIME_WORDS.get(hidden, 'σ′')} at the hidden layer's z."
        )
    return f"{words} {hint}"


# ---------------------------------------------------------------------------------------------
# running cases


def check_backprop(
    fn: Callable[..., Any],
    *,
    cases: int = 5,
    seed: int = 0,
    rtol: float = DEFAULT_RTOL,
    assignment: str = "network",
    **options: str,
) -> BackpropReport:
    """Compare ``fn(weights, biases, x, y) -> (nabla_w, nabla_b)`` with the engine on seeded cases.

    ``weights[l]`` is (out, in), ``biases[l]`` (out,), ``x`` (n, in), ``y`` one-hot (n, out); the
    gradients are of the batch's MEAN cost (by default quadratic with sigmoid layers; ``options``
    such as ``hidden="relu", output="softmax", cost="cross_entropy"`` choose the grader's variant).
    ``fn`` runs in this process, on fresh copies of the inputs for every case.
    """
    return check_function(fn, "backprop", cases=cases, seed=seed, rtol=rtol, assignment=assignment, **options)


def check_function(
    fn: Callable[..., Any],
    function: str,
    *,
    cases: int = 5,
    seed: int = 0,
    rtol: float = DEFAULT_RTOL,
    assignment: str = "network",
    **options: str,
) -> BackpropReport:
    """Compare an in-process callable with the reference for one of the assignment's functions."""
    from .grading.assignments import ReturnedValue

    if not callable(fn):
        raise TypeError(f"expected a function such as backprop(weights, biases, x, y), got {type(fn).__name__}")
    _check_settings(cases, seed, rtol)
    task = get_task(assignment, options)
    if function not in task.functions:
        raise ValueError(f"unknown function {function!r} of assignment {task.describe()}; expected one of: {', '.join(task.functions)}")
    checks = []
    for case in task.build_cases(seed, cases, 0)[function]:
        args = copy.deepcopy(case.args)
        returned = call_like_the_sandbox(fn, args)
        returned.modified = [i for i, (a, b) in enumerate(zip(case.args, args)) if not _same(a, b)]
        checks.append(judge_case(task, case, returned, rtol))
    source = f"{getattr(fn, '__qualname__', function)} (in this process)"
    report = BackpropReport(source, task.describe(), rtol, checks, seed, source_file_of(fn), task.name, dict(task.options))
    report.rerun = rerun_lines(fn, function)
    return report


def call_like_the_sandbox(fn: Callable[..., Any], args: list[Any]) -> Any:
    """``fn(*args)`` judged as the grading sandbox judges it: any exception (``SystemExit`` too) is
    the case's result, and the value must pass the sandbox's own gate (``_child.encode``: real
    numbers in lists and tuples; complex, string and object arrays are refused, not cast)."""
    from .grading.assignments import ReturnedValue
    from .grading.sandbox._child import MAX_ARRAYS, BadReturn, encode

    try:
        value = fn(*args)
    except (Exception, SystemExit) as error:  # the learner's exception is a result, reported per case
        return ReturnedValue("exception", f"{type(error).__name__}: {error}")
    try:
        encode(value, 0, [], MAX_ARRAYS)
    except BadReturn as error:
        return ReturnedValue("badreturn", str(error))
    except RecursionError:
        return ReturnedValue("badreturn", "the returned value is nested too deeply")
    return ReturnedValue("ok", "", value)


def _check_settings(cases: int, seed: int, rtol: float) -> None:
    from . import settings

    settings.cases(cases)
    settings.seed(seed)
    settings.rtol(rtol)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(p, q) for p, q in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b))


def judge_case(task: Any, case: Any, run: Any, rtol: float, verdict: Any = None) -> CaseCheck:
    """One case's rows and diagnosis from ``run`` (anything with status, message, value, modified:
    the sandbox's ``CaseRun`` or a ``ReturnedValue``); ``verdict`` overrides the assignment's judging
    (for a function that did not run at all)."""
    expected = task.tensors(case.function, case.expected)
    status, message, got = run.status, run.message, {}
    if status == "ok":
        try:
            got = task.tensors(case.function, run.value)
        except (ValueError, TypeError) as error:
            got = _loose_tensors(run.value, list(expected))
            status, message = "badreturn", str(error)
    modified = list(getattr(run, "modified", []) or [])
    rows = compare_tensors(expected, got, rtol)
    check = CaseCheck(
        case.function, case.number, case.description, status, message, rows, [], "",
        list(case.args), expected, got, modified,
    )  # fmt: skip
    if check.passed:
        return check
    if verdict is None:
        verdict = task.judge(case, run, rtol)
    check.tags = list(verdict.tags)
    message = verdict.message or ("The values are wrong." if status == "ok" else "")
    located = layer_words(rows, task.options) if status == "ok" else ""
    if located:  # the layer-by-layer account says it all: drop the grader's summary of the same
        message = re.sub(r"\s*Right: [^.]*\. Wrong: [^.]*\.", "", message.replace("The values are wrong. ", "", 1))
    words = [w for w in (located, message.strip()) if w]
    if status == "ok" and not verdict.tags and not modified:
        words.append("None of the catalogued mistakes reproduces these numbers.")
    check.diagnosis = " ".join(words)
    return check


def _loose_tensors(value: Any, names: list[str]) -> dict[str, Array]:
    """Whatever arrays can be read from a value of the wrong structure, in order, for the table."""
    flat: list[Any] = []

    def walk(v: Any, depth: int) -> None:
        if isinstance(v, (list, tuple)) and depth < 3:
            for item in v:
                walk(item, depth + 1)
        else:
            flat.append(v)

    walk(value, 0)
    out = {}
    for name, v in zip(names, flat):
        try:
            array = np.asarray(v)
        except (TypeError, ValueError):
            continue
        if array.dtype.kind in "iufb":  # a complex part is not dropped into the table
            out[name] = array.astype(np.float64)
    return out


def read_learner_file(path: PathLike, default_name: str = "assignment.py") -> tuple[bytes, str]:
    """(Python text, name) of a learner's .py file, notebook (code cells), folder or .zip.

    Raises FileNotFoundError, or ValueError with one line saying what is wrong (not valid Python, …).
    """
    submission = _learner_submission(path, default_name)
    return submission.source, submission.name


def _learner_submission(path: PathLike, default_name: str) -> Any:
    """The submission at ``path``, refused in one line naming the file (and a notebook's cell) when
    it is not valid Python."""
    from .grading.submission import load_submission

    submission = load_submission(path, default_name=default_name)
    try:
        compile(submission.source, "submission.py", "exec")
    except (SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None)
        where = submission.locate(f'File "submission.py", line {line}') if line else ""
        place = where.partition(", ")[2] if ", " in where else ""  # "line 50" or "cell 3, line 2"
        raise ValueError(f"{submission.name} is not valid Python{f' ({place})' if place else ''}: {getattr(error, 'msg', error)}") from None
    return submission


def check_file(
    path: PathLike,
    *,
    assignment: str = "network",
    options: Optional[dict[str, str]] = None,
    functions: Optional[Sequence[str]] = None,
    cases: int = 5,
    seed: int = 0,
    rtol: float = DEFAULT_RTOL,
    limits: Any = None,
    mode: str = "auto",
) -> BackpropReport:
    """Run a learner's file (``.py``, ``.ipynb``, folder or ``.zip``) in the grading sandbox and
    compare every case of every function with the reference.

    ``functions`` defaults to those of the assignment that the file defines. A file that cannot be
    imported, or that defines none of the assignment's functions, raises ValueError in one line.
    """
    from .grading.assignments import ReturnedValue
    from .grading.config import SandboxLimits
    from .grading.grader import judge_case as grade_case
    from .grading.sandbox import Call, run_submission

    _check_settings(cases, seed, rtol)
    task = get_task(assignment, options)
    learner = _learner_submission(path, task.template_name)
    source, name = learner.source, learner.name
    chosen = list(functions) if functions else list(task.functions)
    unknown = [f for f in chosen if f not in task.functions]
    if unknown:
        raise ValueError(f"unknown function(s) {', '.join(unknown)} of assignment {task.describe()}; expected some of: {', '.join(task.functions)}")
    suite = {f: c for f, c in task.build_cases(seed, cases, 0).items() if f in chosen}
    calls = [Call(case.function, case.number, list(case.args)) for f in chosen for case in suite[f]]
    submission = run_submission(source, calls, limits if limits is not None else SandboxLimits(), mode)
    runs = submission.functions
    learner.locate_runs(runs)  # tracebacks name the learner's file (and a notebook's cell), not the sandbox's copy
    imported = [r for r in runs.values() if r.status == "import-error"]
    if imported:
        lines = imported[0].message.strip().splitlines()
        raise ValueError(f"{name} could not be imported: {lines[-1] if lines else 'import failed'}")
    if not functions:
        chosen = [f for f in chosen if runs[f].status != "missing"]
        if not chosen:  # the wrong file (a training script, an empty file): one line, not a page of MISSING
            raise ValueError(
                f"{name} defines none of the functions of assignment {task.name} ({', '.join(task.functions)}); "
                f"start from the starter file that `handprop grade --template` writes"
            )
    checks = []
    for function in chosen:
        run = runs[function]
        for case in suite[function]:
            returned = run.cases.get(case.number)
            if run.status != "ran" or returned is None:
                verdict = grade_case(task, case, run, rtol)
                status = run.status if run.status != "ran" else "badreturn"
                checks.append(judge_case(task, case, ReturnedValue(status, run.message or verdict.message), rtol, verdict))
                continue
            checks.append(judge_case(task, case, returned, rtol))
    source_file = Path(path).resolve() if Path(path).suffix == ".py" else None
    return BackpropReport(
        name, task.describe(), rtol, checks, seed, source_file, task.name, dict(task.options), list(submission.layers)
    )


# ---------------------------------------------------------------------------------------------
# saving a failing case and replaying it


def _flatten_args(args: Sequence[Any]) -> tuple[dict[str, Array], list[Any]]:
    """Arrays under ``arg<i>`` or ``arg<i>.<j>`` (lists), and a layout to rebuild them."""
    arrays: dict[str, Array] = {}
    layout: list[Any] = []
    for i, a in enumerate(args):
        if isinstance(a, list):
            layout.append(len(a))
            for j, v in enumerate(a):
                arrays[f"arg{i}.{j}"] = np.asarray(v)
        else:
            layout.append("float" if isinstance(a, float) else "int" if isinstance(a, int) else None)
            arrays[f"arg{i}"] = np.asarray(a)
    return arrays, layout


def save_case(case: CaseCheck, path: PathLike, assignment: str, options: dict[str, str], rtol: float) -> Path:
    """One case as an .npz: its inputs, the reference's and the learner's tensors, and how to rebuild them."""
    from .atomic import atomic_open

    path = Path(path)
    arrays, layout = _flatten_args(case.args)
    names = list(case.expected)
    for k, name in enumerate(names):
        arrays[f"expected.{k}"] = np.asarray(case.expected[name])
        if name in case.got:
            arrays[f"got.{k}"] = np.asarray(case.got[name])
    meta = {
        "format": SAVED_FORMAT, "assignment": assignment, "options": options, "function": case.function, "number": case.number,
        "description": case.description, "tensors": names, "layout": layout, "rtol": rtol,
        "diagnosis": case.diagnosis,
    }  # fmt: skip
    arrays["meta"] = np.array(json.dumps(meta, ensure_ascii=True))
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


@dataclass
class SavedCase:
    """A failing case read back by ``load_case``: call the function on ``args``, then ``compare``."""

    assignment: str
    options: dict[str, str]
    function: str
    number: int
    description: str
    args: list[Any]
    expected: dict[str, Array]
    got: dict[str, Array]  # what the learner's function returned when the case was saved
    rtol: float
    diagnosis: str

    def compare(self, value: Any) -> str:
        """The table for ``value`` (what the function returns now) against the saved reference."""
        task = get_task(self.assignment, self.options)
        try:
            got = task.tensors(self.function, value)
        except (ValueError, TypeError) as error:
            return f"{self.function}: case {self.number}: the value has the wrong structure: {error}"
        rows = compare_tensors(self.expected, got, self.rtol)
        verdict = "all tensors match" if all(r.passed for r in rows) else "MISMATCH"
        return f"{self.function}: case {self.number} ({self.description}): {verdict}\n{_rows_table(rows, self.rtol)}"


def load_case(path: PathLike) -> SavedCase:
    """Read a case written by ``--save-failing`` / ``report.save_failing``.

    Anything else (another .npz, a damaged or truncated file) raises ValueError "PATH is not a saved
    handprop case: …"; nothing is unpickled and no header is trusted (``checkpoint.read_npz``).
    """
    from .checkpoint import read_npz

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"saved case not found: {path}")

    def not_a_case(reason: str) -> ValueError:
        return ValueError(f"{path} is not a saved handprop case: {reason}")

    data = read_npz(path, not_a_case, "a .npz written by handprop check --save-failing")
    try:
        meta = json.loads(str(data["meta"][()]))
        if not isinstance(meta, dict) or meta.get("format") != SAVED_FORMAT:
            raise not_a_case(f"its meta does not say format {SAVED_FORMAT} (written by handprop check --save-failing?)")
        args: list[Any] = []
        for i, kind in enumerate(meta["layout"]):
            if isinstance(kind, int):
                args.append([data[f"arg{i}.{j}"] for j in range(kind)])
            elif kind == "float":
                args.append(float(data[f"arg{i}"]))
            elif kind == "int":
                args.append(int(data[f"arg{i}"]))
            else:
                args.append(data[f"arg{i}"])
        names = meta["tensors"]
        expected = {n: data[f"expected.{k}"] for k, n in enumerate(names)}
        got = {n: data[f"got.{k}"] for k, n in enumerate(names) if f"got.{k}" in data}
        return SavedCase(
            meta["assignment"], dict(meta.get("options", {})), meta["function"], int(meta["number"]), meta["description"],
            args, expected, got, float(meta["rtol"]), meta.get("diagnosis", ""),
        )  # fmt: skip
    except (KeyError, IndexError, TypeError, AttributeError, RecursionError, json.JSONDecodeError) as error:
        raise not_a_case(f"an entry is missing or malformed ({type(error).__name__}: {error})") from None
    except ValueError as error:  # int()/float() of a malformed entry; our own not_a_case passes through
        if str(error).startswith(f"{path} is not a saved handprop case"):
            raise
        raise not_a_case(f"an entry is malformed ({error})") from None


def reproduce_snippet(npz: Path, function: str, source_file: Optional[PathLike] = None, rerun: Optional[str] = None) -> str:
    """A snippet that reruns a saved case in a fresh Python session and prints its table.

    ``rerun`` (from ``rerun_lines``: the checked function's own definitions) defines the function
    that was checked; else, with the learner's .py file known, the snippet runs that file (as the
    sandbox imported it); otherwise (a notebook, a function typed in a session) it calls
    ``function`` as already defined where it is pasted.
    """
    load = f"case = load_case({str(npz.resolve())!r})\n"
    if rerun is not None:
        return (
            "# the definitions of the function that was checked, from its file\n" + rerun
            + "\nfrom handprop.learner import load_case\n" + load + f"print(case.compare({function}(*case.args)))\n"
        )
    if source_file is not None and Path(source_file).suffix == ".py":
        where = repr(str(Path(source_file).resolve()))
        return (
            "from handprop.learner import load_case; import runpy\n" + load
            + f"print(case.compare(runpy.run_path({where})[{function!r}](*case.args)))\n"
        )
    return (
        "from handprop.learner import load_case\n" + load
        + f"print(case.compare({function}(*case.args)))  # after defining your {function} in this session\n"
    )


def rerun_lines(fn: Callable[..., Any], function: str) -> Optional[str]:
    """Python that defines ``fn`` again under the name ``function``, without running its script.

    From the file that defines ``fn`` (a top-level function) it keeps the imports, the function
    and class definitions and the assignments that call nothing; the script's actions (its calls,
    ``if __name__ == "__main__":``, a ``check_backprop(...).save_failing(...)``) are left out.
    None when there is no such file (a notebook cell, the REPL, a lambda or nested function).
    """
    import ast

    name = getattr(fn, "__name__", "")
    path = source_file_of(fn)
    if path is None or not name.isidentifier() or getattr(fn, "__qualname__", "") != name:
        return None
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    kept = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kept.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and not any(isinstance(n, ast.Call) for n in ast.walk(node.value)):
            kept.append(node)
    if not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name for n in kept):
        return None
    text = ast.unparse(ast.Module(body=kept, type_ignores=[]))
    where = f"import sys; sys.path.insert(0, {str(path.resolve().parent)!r})  # the file's own imports, as when it ran\n"
    return where + text + ("\n" if name == function else f"\n{function} = {name}\n")


def source_file_of(fn: Callable[..., Any]) -> Optional[Path]:
    """The file that defines ``fn``, when it is a real file (not a notebook cell or the REPL)."""
    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        return None
    return Path(path) if path and Path(path).is_file() else None


# ---------------------------------------------------------------------------------------------
# the assignment


def get_task(name: str = "network", options: Optional[dict[str, str]] = None) -> Any:
    """The grader's assignment ``name`` (``handprop.grading.assignments``) with its options."""
    from .grading.assignments import get_assignment

    return get_assignment(name, **(options or {}))
