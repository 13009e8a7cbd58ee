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
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

logger = logging.getLogger(__name__)

Array = np.ndarray
PathLike = Union[str, os.PathLike]

DEFAULT_RTOL = 1e-5  # the grader's default: float32 work passes, any real mistake does not
SAVED_FORMAT = "handprop-failing-case-v1"
_LAYER_TENSOR = re.compile(r"^∂C/∂([Wb])(\d+)$")


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
        return self.status == "ok" and bool(self.rows) and all(r.passed for r in self.rows)

    @property
    def title(self) -> str:
        return f"{self.function}: case {self.number} ({self.description})"


@dataclass
class BackpropReport:
    """Every case of every checked function. ``ok`` is True when every tensor of every case matches.

    ``print(report)`` shows a table per case and the diagnosis of each failing one;
    ``assert report.ok, report`` puts the same text in a failing test's message.
    """

    source: str
    assignment: str
    rtol: float
    cases: list[CaseCheck]
    seed: int = 0
    source_file: Optional[Path] = None  # the learner's file, for the reproducing snippets

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
            if case.rows:
                lines.append(_rows_table(case.rows, self.rtol))
            if case.modified:
                lines.append(f"  note: the call modified argument(s) {', '.join(map(str, case.modified))} in place")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)

    def summary(self) -> str:
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
        parts = [self.summary(), "", self.table()]
        if not self.ok:
            parts += ["", "Diagnosis:", self.diagnosis()]
        return "\n".join(parts)

    def save_failing(self, folder: PathLike) -> list[Path]:
        """Each failing case as ``FUNCTION_caseN.npz`` (inputs, expected and learner's tensors) plus
        ``FUNCTION_caseN.py``, a three-line snippet that reruns it; returns the .npz paths."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for case in self.failures:
            path = save_case(case, out / f"{case.function}_case{case.number}.npz", self.assignment, self.rtol)
            snippet = reproduce_snippet(path, case.function, self.source_file)
            path.with_suffix(".py").write_text(snippet, encoding="utf-8")
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
    """A row per expected tensor: errors when the shapes agree, else the shape it came back with."""
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
        scale = float(np.max(np.abs(e))) if e.size else 0.0
        max_rel = max_abs / max(scale, 1e-300) if e.size else 0.0
        rows.append(TensorRow(name, e.shape, g.shape, max_abs, max_rel, max_rel <= rtol))
    return rows


# ---------------------------------------------------------------------------------------------
# where the mistake is, in words


def layer_words(rows: Sequence[TensorRow]) -> str:
    """Which layers are wrong, weights or biases, and which equation that points at.

    Works on tensors named ∂C/∂W<ℓ> and ∂C/∂b<ℓ> (the network assignments); empty otherwise.
    """
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
            "The output layer is already wrong, so the mistake is in δ^L (BP1: δ^L = ∇_a C ⊙ σ′(z^L), with the "
            "1/n of the batch mean) or in how its gradients are formed; every earlier layer inherits it."
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
            "δ^ℓ = (δ^(ℓ+1) W^(ℓ+1)) ⊙ σ′(z^ℓ) (BP2), with σ′(z) = σ(z)(1 − σ(z)) at the hidden layer's z."
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
) -> BackpropReport:
    """Compare ``fn(weights, biases, x, y) -> (nabla_w, nabla_b)`` with the engine on seeded cases.

    ``weights[l]`` is (out, in), ``biases[l]`` (out,), ``x`` (n, in), ``y`` one-hot (n, out); the
    gradients are of the batch's MEAN quadratic cost with sigmoid layers (the grader's assignment).
    ``fn`` runs in this process, on fresh copies of the inputs for every case.
    """
    return check_function(fn, "backprop", cases=cases, seed=seed, rtol=rtol, assignment=assignment)


def check_function(
    fn: Callable[..., Any],
    function: str,
    *,
    cases: int = 5,
    seed: int = 0,
    rtol: float = DEFAULT_RTOL,
    assignment: str = "network",
) -> BackpropReport:
    """Compare an in-process callable with the reference for one of the assignment's functions."""
    if not callable(fn):
        raise TypeError(f"expected a function such as backprop(weights, biases, x, y), got {type(fn).__name__}")
    _check_settings(cases, seed, rtol)
    task = get_task(assignment)
    if function not in task.functions:
        raise ValueError(f"unknown function {function!r} of assignment {task.name!r}; expected one of: {', '.join(task.functions)}")
    suite = task.build_cases(seed, cases)
    checks = []
    for case in suite[function]:
        args = copy.deepcopy(case.args)
        try:
            value = fn(*args)
        except Exception as error:  # the learner's exception is a result, reported per case
            checks.append(_failed_case(task, case, "exception", f"{type(error).__name__}: {error}"))
            continue
        modified = [i for i, (a, b) in enumerate(zip(case.args, args)) if not _same(a, b)]
        checks.append(judge_case(task, case, value, rtol, modified))
    source = f"{getattr(fn, '__qualname__', function)} (in this process)"
    return BackpropReport(source, task.name, rtol, checks, seed, source_file_of(fn))


def _check_settings(cases: int, seed: int, rtol: float) -> None:
    if isinstance(cases, bool) or not isinstance(cases, int) or not 1 <= cases <= 100:
        raise ValueError(f"cases must be an integer from 1 to 100, got {cases!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 < rtol < 1:
        raise ValueError(f"rtol must be a number in (0, 1), got {rtol!r}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(p, q) for p, q in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b))


def _failed_case(task: Any, case: Any, status: str, message: str) -> CaseCheck:
    """A case whose call gave nothing to compare (an exception, a timeout, a missing function)."""
    expected = task.tensors(case.function, case.expected)
    rows = [TensorRow(n, np.shape(e), None, math.nan, math.nan, False) for n, e in expected.items()]
    verdict = task.judge(case, _Returned(status, message), DEFAULT_RTOL)
    return CaseCheck(
        case.function, case.number, case.description, status, message, rows, list(verdict.tags),
        verdict.message or message, list(case.args), expected, {},
    )  # fmt: skip


def judge_case(task: Any, case: Any, value: Any, rtol: float, modified: Sequence[int] = ()) -> CaseCheck:
    """Compare one returned ``value`` with the case's reference and diagnose it."""
    expected = task.tensors(case.function, case.expected)
    try:
        got = task.tensors(case.function, value)
        status, message = "ok", ""
    except (ValueError, TypeError) as error:
        got = _loose_tensors(value, list(expected))
        status, message = "badreturn", str(error)
    rows = compare_tensors(expected, got, rtol)
    check = CaseCheck(
        case.function, case.number, case.description, status, message, rows, [], "",
        list(case.args), expected, got, list(modified),
    )  # fmt: skip
    if not check.passed:
        verdict = task.judge(case, _Returned(status if status == "ok" else "badreturn", message, value, list(modified)), rtol)
        check.tags = list(verdict.tags)
        words = [message] if message else []
        located = layer_words(rows)
        if located:
            words.append(located)
        if verdict.tags:
            words.append(verdict.message)
        elif status == "ok":
            words.append("None of the catalogued mistakes (handprop.grading.diagnose.TAGS) reproduces these numbers.")
        if modified:
            words.append(f"The call changed argument(s) {', '.join(map(str, modified))} in place; return new arrays instead.")
        check.diagnosis = " ".join(words) or "The values are wrong."
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
            out[name] = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            pass
    return out


MAX_FILE_BYTES = 1_000_000


def read_learner_file(path: PathLike) -> bytes:
    """The Python text of a learner's .py file, or of a notebook's code cells (magics dropped).

    Raises FileNotFoundError or ValueError with one line saying what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist or is not a file")
    if path.suffix not in (".py", ".ipynb"):
        raise ValueError(f"{path} is neither a .py file nor a notebook (.ipynb)")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path} is {size} bytes; the limit is {MAX_FILE_BYTES}")
    if path.suffix == ".py":
        source = path.read_bytes()
    else:
        import nbformat

        try:
            notebook = nbformat.read(str(path), as_version=4)
        except Exception as error:  # nbformat raises several kinds for a damaged file
            raise ValueError(f"{path} is not a readable notebook: {str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
        cells = []
        for cell in notebook.cells:
            if cell.cell_type == "code":
                # IPython magics and shell escapes are not Python: leave them out
                cells.append("\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))))
        source = "\n\n".join(cells).encode("utf-8")
    try:
        compile(source, str(path), "exec")
    except (SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None)
        where = f" (line {line})" if line and path.suffix == ".py" else ""
        raise ValueError(f"{path} is not valid Python{where}: {getattr(error, 'msg', error)}") from None
    return source


def check_file(
    path: PathLike,
    *,
    assignment: str = "network",
    functions: Optional[Sequence[str]] = None,
    cases: int = 5,
    seed: int = 0,
    rtol: float = DEFAULT_RTOL,
    limits: Any = None,
) -> BackpropReport:
    """Run a learner's file (``.py`` or ``.ipynb``) in the grading sandbox and compare every case.

    ``functions`` defaults to those of the assignment that the file defines (all of them when it
    defines none, so the report says what is missing). A file that cannot be imported raises
    ValueError with its error's last line.
    """
    from .grading.config import SandboxLimits

    _check_settings(cases, seed, rtol)
    source = read_learner_file(path)
    task = get_task(assignment)
    chosen = list(functions) if functions else list(task.functions)
    unknown = [f for f in chosen if f not in task.functions]
    if unknown:
        raise ValueError(f"unknown function(s) {', '.join(unknown)} of assignment {task.name!r}; expected some of: {', '.join(task.functions)}")
    suite = {f: c for f, c in task.build_cases(seed, cases).items() if f in chosen}
    limits = limits if limits is not None else SandboxLimits()
    runs = _run_sandboxed(source, suite, limits)
    if Path(path).suffix == ".py":  # tracebacks name the sandbox's copy; the line numbers are the file's
        for run in runs.values():
            run.message = run.message.replace('"submission.py"', f'"{Path(path).name}"')
            for returned in run.cases.values():
                returned.message = returned.message.replace('"submission.py"', f'"{Path(path).name}"')
    imported = [r for r in runs.values() if r.status == "import-error"]
    if imported:
        last = imported[0].message.strip().splitlines()[-1] if imported[0].message.strip() else "import failed"
        raise ValueError(f"{path} could not be imported: {last}")
    if not functions:
        defined = [f for f in chosen if runs[f].status != "missing"]
        chosen = defined or chosen
    checks = []
    for function in chosen:
        run = runs[function]
        for case in suite[function]:
            if run.status != "ran":
                checks.append(_failed_case(task, case, run.status, run.message))
                continue
            returned = run.cases.get(case.number)
            if returned is None or returned.status != "ok":
                status = returned.status if returned is not None else "badreturn"
                message = returned.message if returned is not None else "no result came back for this case"
                checks.append(_failed_case(task, case, status, message))
                continue
            checks.append(judge_case(task, case, returned.value, rtol, returned.modified))
    return BackpropReport(str(path), task.name, rtol, checks, seed, Path(path).resolve())





def _run_sandboxed(source: bytes, suite: dict[str, list[Any]], limits: Any, mode: str = "auto") -> dict[str, Any]:
    """Each function's run in the grading sandbox (``FunctionRun``: status, message, cases by number,
    each a ``CaseRun`` with the returned value rebuilt grader-side and the arguments it modified)."""
    from .grading.sandbox import Call, run_submission

    calls = [Call(case.function, case.number, list(case.args)) for cases in suite.values() for case in cases]
    submission = run_submission(source, calls, limits, mode)
    logger.info("sandbox layers: %s", ", ".join(submission.layers))
    return submission.functions


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


def save_case(case: CaseCheck, path: PathLike, assignment: str, rtol: float) -> Path:
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
        "format": SAVED_FORMAT, "assignment": assignment, "function": case.function, "number": case.number,
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
        task = get_task(self.assignment)
        try:
            got = task.tensors(self.function, value)
        except (ValueError, TypeError) as error:
            return f"{self.function}: case {self.number}: the value has the wrong structure: {error}"
        rows = compare_tensors(self.expected, got, self.rtol)
        verdict = "all tensors match" if all(r.passed for r in rows) else "MISMATCH"
        return f"{self.function}: case {self.number} ({self.description}): {verdict}\n{_rows_table(rows, self.rtol)}"


def load_case(path: PathLike) -> SavedCase:
    """Read a case written by ``--save-failing`` / ``report.save_failing``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"saved case not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != SAVED_FORMAT:
                raise ValueError(f"{path} is not a saved handprop case (expected format {SAVED_FORMAT})")
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
            got = {n: data[f"got.{k}"] for k, n in enumerate(names) if f"got.{k}" in data.files}
    except (KeyError, OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a readable saved case: {error}") from None
    return SavedCase(
        meta["assignment"], meta["function"], int(meta["number"]), meta["description"], args, expected, got,
        float(meta["rtol"]), meta.get("diagnosis", ""),
    )  # fmt: skip


def reproduce_snippet(npz: Path, function: str, source_file: Optional[PathLike] = None) -> str:
    """Three lines that rerun a saved case in a fresh Python session and print its table."""
    where = repr(str(Path(source_file).resolve())) if source_file is not None else "'YOUR_FILE.py'"
    return (
        f"from handprop.learner import load_case; import runpy\n"
        f"case = load_case({str(npz.resolve())!r})\n"
        f"print(case.compare(runpy.run_path({where})[{function!r}](*case.args)))\n"
    )


def source_file_of(fn: Callable[..., Any]) -> Optional[Path]:
    """The file that defines ``fn``, when it is a real file (not a notebook cell or the REPL)."""
    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        return None
    return Path(path) if path and Path(path).is_file() else None


# ---------------------------------------------------------------------------------------------
# the assignment (the grader's network assignment behind the assignment contract of GUIDE.md)


@dataclass
class _Case:
    function: str
    number: int
    args: list[Any]
    expected: Any  # the reference return value, in the structure the learner must return
    hidden: bool
    description: str
    legacy: Any = field(default=None, repr=False)


@dataclass
class _Returned:
    status: str
    message: str = ""
    value: Any = None
    modified: list[int] = field(default_factory=list)


_TENSOR_NAMES = {"sigmoid": "σ(z)", "sigmoid_prime": "σ′(z)", "feedforward": "a^L"}


class _NetworkAssignment:
    """The default assignment (sigmoid, sigmoid_prime, feedforward, backprop, update_mini_batch)."""

    name = "network"

    def __init__(self) -> None:
        from .grading.config import FUNCTIONS

        self.functions: tuple[str, ...] = FUNCTIONS

    def build_cases(self, seed: int, cases: int, hidden: int = 0) -> dict[str, list[_Case]]:
        from .grading.cases import ARGUMENTS, build_cases, unpack_pair
        from .grading.config import GradingConfig, SandboxLimits

        config = GradingConfig(seed=seed, cases=cases, hidden=hidden, sandbox=SandboxLimits(uid=None))
        suite = {}
        for function, legacy in build_cases(config).items():
            converted = []
            for c in legacy:
                args = [c.inputs[name] for name in ARGUMENTS[function]]
                if function in ("backprop", "update_mini_batch"):
                    expected: Any = unpack_pair(c.expected, len(c.inputs["weights"]))
                else:
                    expected = c.expected["out"]
                converted.append(_Case(function, c.number, args, expected, c.hidden, c.description, c))
            suite[function] = converted
        return suite

    def tensors(self, function: str, value: Any) -> dict[str, Array]:
        if function not in ("backprop", "update_mini_batch"):
            array = _numeric(value, f"{function} must return one NumPy array")
            return {_TENSOR_NAMES[function]: array}
        what = "(nabla_w, nabla_b)" if function == "backprop" else "(new_weights, new_biases)"
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise ValueError(f"{function} must return two lists of arrays {what}, got {type(value).__name__}")
        ws, bs = value
        if not isinstance(ws, (list, tuple)) or not isinstance(bs, (list, tuple)) or len(ws) != len(bs):
            raise ValueError(f"{function} must return two lists of arrays {what} of the same length, one array per layer")
        out = {}
        for l, (w, b) in enumerate(zip(ws, bs), start=1):
            prefix = "∂C/∂" if function == "backprop" else "new "
            out[f"{prefix}W{l}"] = _numeric(w, f"{what}[0][{l - 1}] must be an array")
            out[f"{prefix}b{l}"] = _numeric(b, f"{what}[1][{l - 1}] must be an array")
        return out

    def judge(self, case: _Case, run: _Returned, rtol: float) -> Any:
        from .grading.diagnose import judge
        from .grading.sandbox import CaseRun, FunctionRun

        returned = CaseRun(run.status, run.message, run.value, list(run.modified))
        return judge(case.legacy, FunctionRun("ran", cases={case.number: returned}), rtol)


def _numeric(value: Any, what: str) -> Array:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(what) from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{what} of numbers, got {type(value).__name__}")
    return array.astype(np.float64)


def get_task(name: str = "network") -> Any:
    """The assignment whose cases, tensors and judge the checks use."""
    if name != "network":
        raise ValueError(f"unknown assignment {name!r}; expected one of: network")
    return _NetworkAssignment()
