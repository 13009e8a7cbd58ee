"""What an assignment is: functions, a template, a case generator, a reference and its mistakes.

An assignment is a value the grader is given. Its judging is written once here: how the call
ended, whether it changed its inputs, the structure of the returned value (``tensors``), shapes,
finiteness, the comparison with the reference, and only then ``explain``, which fits the known
mistakes to the student's numbers.

Each assignment states its known mistakes once, case by case, in ``catalogue``: every ``Mistake``
says what a submission with it returns (``returns``: a drawn case on which one of these lands near
the reference is drawn again) and how the diagnosis recognises it (``recognise``). A mistake added
to the catalogue is therefore both redrawn against and diagnosed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from ..cases import Case, case_rng, is_hidden
from ..diagnose import DIAGNOSIS_RTOL, TAGS, Verdict, fail, from_candidates, relative_error

Array = np.ndarray

logger = logging.getLogger(__name__)

SEPARATION = 1e-3  # every catalogued mistake is off by at least this (relative) on every case; rtol is 1e-5
MAX_DRAWS = 50


Candidates = list[tuple[str, ...]]  # each a combination of mistake tags that reproduces the numbers


@dataclass
class Mistake:
    """One catalogued mistake (or family, such as the scale mistakes) on one case.

    ``returns``: what a submission with it returns on the case, as the function returns it (empty
    where its shape alone gives it away); ``recognise(got, expected, tol)``: the tag combinations
    it explains in a student's arrays (``tensors`` of the value), [] when it does not fit them.
    """

    returns: list[Any]
    recognise: Callable[[dict[str, Array], dict[str, Array], float], Candidates]


@dataclass
class ReturnedValue:
    """What a grader needs to judge one case: how the call ended and what it returned.

    The sandbox's ``CaseRun`` has these attributes; anything with them can be judged.
    """

    status: str  # ok | exception | badreturn
    message: str = ""
    value: Any = None
    modified: list[int] = field(default_factory=list)


class Assignment:
    """The base of every assignment; subclasses fill in the class attributes and the four methods
    ``template``, ``make_case``, ``tensors`` and ``catalogue`` (and may refine ``shape_tags``)."""

    name: str = ""
    functions: tuple[str, ...] = ()
    points: dict[str, float] = {}  # default points per function
    template_name: str = "assignment.py"  # the starter file's default name
    # Which graded function presumably calls which: a mistake shared along an edge gets a note.
    calls: dict[str, tuple[str, ...]] = {}
    # The options an instructor may set, each with its choices (the first is the default).
    choices: dict[str, tuple[str, ...]] = {}

    def __init__(self, **options: str) -> None:
        for key, value in options.items():
            if key not in self.choices:
                expected = f"expected some of {', '.join(self.choices)}" if self.choices else "it takes none"
                raise ValueError(f"unknown option {key!r} for the {self.name} assignment; {expected}")
            if value not in self.choices[key]:
                raise ValueError(f"option {key} must be one of {', '.join(self.choices[key])}, got {value!r}")
        self.options: dict[str, str] = {key: options.get(key, values[0]) for key, values in self.choices.items()}

    # -- what a subclass provides ---------------------------------------------------------------

    def template(self) -> str:
        raise NotImplementedError

    def build_cases(self, seed: int, cases: int, hidden: int) -> dict[str, list[Case]]:
        """``cases`` cases per function, the last ``hidden`` of them hidden; one seeded stream per
        function, so changing one function's cases never changes another's."""
        suite: dict[str, list[Case]] = {}
        for function in self.functions:
            rng = case_rng(seed, self.name, function)
            suite[function] = [self._separating_case(function, k, rng, is_hidden(k, cases, hidden)) for k in range(cases)]
        return suite

    def _separating_case(self, function: str, k: int, rng: np.random.Generator, hidden: bool) -> Case:
        """A case that no catalogued mistake passes: drawn again (from the same stream, so still
        seeded) while one of them lands within SEPARATION of the reference, as a dead ReLU layer
        or a tiny step can make it."""
        for _ in range(MAX_DRAWS):
            case = self.make_case(function, k, rng, hidden)
            if not self.hides_a_mistake(case):
                return case
        logger.warning(
            "%s: after %d draws some catalogued mistake still scores as right on this case, so its grade may miss "
            "that mistake; choose another --seed", case.name, MAX_DRAWS,
        )
        return case

    def hides_a_mistake(self, case: Case) -> bool:
        """True when some catalogued mistake's result is as good as right on ``case``, or as good as
        another mistake's (tanh(z) ≈ 1 where every |z| is large: the diagnosis could then name the
        wrong one of the two)."""
        seen = [self.tensors(case.function, case.expected)]
        for value in self.mistaken_values(case):
            got = self.tensors(case.function, value)
            if any(_within_separation(got, other) for other in seen):
                return True
            seen.append(got)
        return False

    def mistaken_values(self, case: Case) -> list[Any]:
        """What a submission with each catalogued mistake would return on ``case`` (where its
        shape alone does not give it away): the ``returns`` of ``catalogue``."""
        return [value for mistake in self.catalogue(case) for value in mistake.returns]

    def make_case(self, function: str, k: int, rng: np.random.Generator, hidden: bool) -> Case:
        """Case number k + 1 of ``function``, drawn from ``rng``, with its reference value."""
        raise NotImplementedError

    def tensors(self, function: str, value: Any) -> dict[str, Array]:
        raise NotImplementedError

    def catalogue(self, case: Case) -> list[Mistake]:
        """The known mistakes of ``case.function`` on ``case``, in the order the diagnosis tries them."""
        return []

    def explain(self, case: Case, got: dict[str, Array], expected: dict[str, Array], tol: float) -> Candidates:
        """Every known mistake (or combination) of ``catalogue`` that reproduces ``got``; shapes already match."""
        return [c for mistake in self.catalogue(case) for c in mistake.recognise(got, expected, tol)]

    def shape_tags(self, case: Case, name: str, got: tuple[int, ...], expected: tuple[int, ...]) -> tuple[str, ...]:
        """The tag(s) a shape mismatch of tensor ``name`` earns (alternatives, best first)."""
        return ("wrong-shape",)

    def mistakes(self, function: str) -> tuple[str, ...]:
        """The catalogued mistakes ``explain`` can recognise in ``function`` (for docs and tests)."""
        return ()

    def sentences(self) -> dict[str, str]:
        """Each tag's sentence, worded for this assignment."""
        return dict(TAGS)

    # -- shared -----------------------------------------------------------------------------------

    def describe(self) -> str:
        """The assignment and its options, e.g. ``network (hidden=relu, output=softmax, cost=cross_entropy)``."""
        if not self.options:
            return self.name
        return f"{self.name} ({', '.join(f'{k}={v}' for k, v in self.options.items())})"

    def default_points(self) -> dict[str, float]:
        return dict(self.points)

    def judge(self, case: Case, run: Any, rtol: float) -> Verdict:
        """Grade one case from how its call went (a ``CaseRun`` or ``ReturnedValue``)."""
        sentences = self.sentences()
        if run.status == "exception":
            return fail(["exception"], sentences, run.message)
        if run.status != "ok":
            return fail(["not-an-array"], sentences, run.message)
        if getattr(run, "modified", None):
            names = ", ".join(self.argument_name(case.function, i) for i in run.modified)
            return fail(["modified-input"], sentences, f"Changed in place: {names}. No credit for this case.")
        try:
            got = self.tensors(case.function, run.value)
        except (ValueError, TypeError) as error:
            return fail(["not-an-array"], sentences, str(error))
        expected = self.tensors(case.function, case.expected)
        return self.compare(case, got, expected, rtol)

    def compare(self, case: Case, got: dict[str, Array], expected: dict[str, Array], rtol: float) -> Verdict:
        sentences = self.sentences()
        if list(got) != list(expected):  # say, two layers' gradients where there are three
            detail = f"Expected {len(expected)} arrays ({', '.join(expected)}), got {len(got)} ({', '.join(got) or 'none'})."
            return fail(["wrong-shape"], sentences, detail)
        primary: list[str] = []
        alternative: list[str] = []  # where a shape fits two mistakes (say at n = 1), the other reading
        details = []
        for name, e in expected.items():
            g = got[name]
            if g.shape == e.shape:
                continue
            options = self.shape_tags(case, name, g.shape, e.shape)
            primary.append(options[0])
            alternative.append(options[-1])
            details.append(f"{name}: expected shape {e.shape}, got {g.shape}.")
        if details:
            candidates = list(dict.fromkeys([tuple(dict.fromkeys(primary)), tuple(dict.fromkeys(alternative))]))
            return fail(list(candidates[0]), sentences, " ".join(details), candidates=candidates)
        if not all(np.isfinite(g).all() for g in got.values()):
            return fail(["nan-or-inf"], sentences)
        errors = {name: relative_error(got[name], e) for name, e in expected.items()}
        error = max(errors.values(), default=0.0)
        if error <= rtol:
            return Verdict(True, error=error)
        candidates = self.explain(case, got, expected, max(rtol, DIAGNOSIS_RTOL))
        verdict = from_candidates(candidates, error, rtol, sentences)
        verdict.message += which_parts(errors, rtol)
        return verdict

    def argument_name(self, function: str, index: int) -> str:
        names = self.arguments(function)
        return names[index] if 0 <= index < len(names) else f"argument {index + 1}"

    def arguments(self, function: str) -> tuple[str, ...]:
        """The names of ``function``'s positional arguments, in order."""
        return ()


def _within_separation(got: dict[str, Array], other: dict[str, Array]) -> bool:
    """Whether two judged results have the same arrays, each within SEPARATION of the other's."""
    if list(got) != list(other) or any(got[n].shape != e.shape for n, e in other.items()):
        return False
    return all(relative_error(got[n], e) <= SEPARATION for n, e in other.items())  # stops at the first array apart


def which_parts(errors: Mapping[str, float], rtol: float) -> str:
    """A sentence naming the wrong parts when some parts of a result are right."""
    wrong = [name for name, e in errors.items() if e > rtol]
    if len(errors) < 2 or len(wrong) == len(errors):
        return ""
    right = [name for name in errors if name not in wrong]
    return f" Right: {', '.join(right)}. Wrong: {', '.join(wrong)}."


REAL_KINDS = "iufb"  # integers, unsigned, floats, booleans: what the sandbox's wire carries too


def as_array(value: Any, what: str) -> Array:
    """A returned value as a float64 array; ValueError naming ``what`` if it is not numbers."""
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, (str, bytes, dict)):
        raise ValueError(f"{what} is a {type(value).__name__}, expected a NumPy array of numbers")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} could not be read as an array of numbers") from None
    if array.dtype.kind not in REAL_KINDS:  # complex parts would be dropped, strings and objects are not numbers
        raise ValueError(f"{what} has dtype {array.dtype}, expected real numbers (a float array)")
    return array.astype(np.float64)


def as_sequence(value: Any, length: Optional[int], what: str) -> Sequence[Any]:
    """``value`` as a tuple or list (of ``length`` items when given); ValueError otherwise."""
    if not isinstance(value, (tuple, list)):
        raise ValueError(f"{what} must be a tuple or list, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise ValueError(f"{what} must have {length} items, got {len(value)}")
    return value
