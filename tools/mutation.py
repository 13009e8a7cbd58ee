"""Mutation testing, module by module: would the tests catch the bugs a maintainer would make?

    python tools/mutation.py                      # every module, each by its own method
    python tools/mutation.py activations costs    # some modules
    python tools/mutation.py --hand               # only the hand-chosen mutants (the issue's table among them)
    python tools/mutation.py --list               # the modules, their tests and method; runs nothing

Each module is mutated with the test subset that covers it (``MODULES``), in a scratch copy of the
checkout (``git ls-files``, so uncommitted edits count and the checkout itself is never changed):

* ``mutmut`` (``pip install -e .[mutation]``; configured under ``[tool.mutmut]`` in pyproject.toml)
  generates every mutant of the module and runs the covering tests against each. The copy's
  pyproject.toml is rewritten so mutmut sees one module and its tests only.
* ``hand``: a list of realistic mutants (``HAND``), each a one-place text change applied alone, the
  module's tests run with ``-x``; a mutant is killed when they fail. It stands in where mutmut's
  mutants are too slow to run one by one (each change of compiled.py recompiles it with Numba), and
  it keeps the bugs of issue 22's table as a regression list for every module.

Per module it prints killed / total, the score, the wall time and every survivor; the exit status
is 1 when a module scores below ``--threshold`` (default 90 %). Not in CI: it takes from minutes
(activations) to hours (network with mutmut) on two cores. docs/testing.md has the scores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    path: str  # file in the checkout
    old: str  # text that occurs exactly once in it
    new: str
    what: str  # the bug, in words
    equivalent: str = ""  # why no test can kill it (same results, only slower): left out of the score


@dataclass
class Module:
    path: str
    tests: list[str]  # the subset of tests/ that covers it
    method: str = "mutmut"  # or "hand"
    mutants: list[Mutant] = field(default_factory=list)


# the quickest tests first: with -x a mutant is killed by the first that fails
COMPILED_TESTS = ["tests/test_compiled_widths.py", "tests/test_batches.py", "tests/test_training_paths.py", "tests/test_compiled.py"]
TRAINING_TESTS = ["tests/test_training_units.py", "tests/test_training.py", "tests/test_batches.py", "tests/test_lockstep_tolerance.py", "tests/test_run_flow.py"]
ENGINE_TESTS = ["tests/test_network_construction.py", "tests/test_training_paths.py", "tests/test_twin.py", "tests/test_gradcheck.py", "tests/test_network_shapes.py", "tests/test_per_example.py",
                "tests/test_edge_cases.py", "tests/test_bad_values.py", "tests/test_bad_input.py"]  # fmt: skip
JUDGING_TESTS = ["tests/test_grading_base_units.py", "tests/test_grading_chain_rule_units.py", "tests/test_grading_network_units.py", "tests/test_grading_layers_units.py", "tests/test_grading_diagnose.py", "tests/test_grading_mistake_table.py", "tests/test_grading_diagnosis.py", "tests/test_grading_judging.py"]

MODULES: dict[str, Module] = {
    "activations": Module("handprop/activations.py", ENGINE_TESTS),
    "costs": Module("handprop/costs.py", ENGINE_TESTS),
    "network": Module("handprop/network.py", ENGINE_TESTS + ["tests/test_training.py"]),
    "training": Module("handprop/training.py", TRAINING_TESTS),
    # what the NumPy-parameter backends share (the L2 decay among it); by hand, with the training tests
    "backend": Module("handprop/backend.py", TRAINING_TESTS, "hand"),
    "compiled": Module("handprop/compiled.py", COMPILED_TESTS, "hand"),
    "diagnose": Module("handprop/grading/diagnose.py", JUDGING_TESTS),
    "assignments": Module("handprop/grading/assignments", JUDGING_TESTS),
    # every sandbox test starts real sandboxes (seconds each): mutmut's hundreds of mutants would take hours
    "modes": Module("handprop/grading/sandbox/modes.py", ["tests/test_grading_modes_units.py", "tests/test_grading_modes.py", "tests/test_grading_sandbox.py",
                    "tests/test_grading_hostile.py::test_row_13_the_reference_cannot_be_reached"], "hand"),
    "explain": Module("handprop/explain.py", ["tests/test_explain.py"], "hand"),
    # the sandbox's layer selection under mutmut, with the unit tests that start no sandbox (seconds in all)
    "layer-selection": Module("handprop/grading/sandbox/modes.py", ["tests/test_grading_modes.py", "tests/test_grading_modes_units.py"]),
}

# Realistic mutants, applied one at a time. The first of each module's list are the bugs of issue 22's
# table that passed the whole suite before; the rest are the bugs a maintainer would plausibly make.
HAND: list[Mutant] = [
    # compiled.py: the kernel's remainders, blocks and batch loop
    Mutant("handprop/compiled.py", "    if count > 6:\n        out[r0 + U6] = c6", "    if count > 7:\n        out[r0 + U6] = c6",
           "a 7-wide remainder drops its 7th output (issue 22)"),
    Mutant("handprop/compiled.py", "    if count > 5:\n        out[r0 + U5] = c5", "    if count > 6:\n        out[r0 + U5] = c5",
           "a 6-wide remainder drops its 6th output"),
    Mutant("handprop/compiled.py", "    if count > 1:\n        out[r0 + U1] = c1", "    if count > 2:\n        out[r0 + U1] = c1",
           "a 2-wide remainder drops its 2nd output"),
    Mutant("handprop/compiled.py", "    if count >= 8:", "    if count > 8:", "a full block of 8 stored as a remainder"),
    Mutant("handprop/compiled.py", "    for b0 in range(start, stop, batch_size):", "    for b0 in range(start, stop - 1, batch_size):",
           "the compiled loop drops a last batch of one"),
    Mutant("handprop/compiled.py", "        m = min(batch_size, stop - b0)", "        m = batch_size",
           "the last short batch read past its end"),
    Mutant("handprop/compiled.py", "    while n16 > 0 and q + 4 <= rows:", "    while n16 > 0 and q + 4 < rows:",
           "four rows at a time stops one block early",
           "equivalent: the rows it leaves are computed one at a time by the loop after it, the same sums in the same order"),
    Mutant("handprop/compiled.py", "    for y in range(q, rows):\n        _combine(", "    for y in range(q + 1, rows):\n        _combine(",
           "the first row left over by the blocks of four rows is skipped"),
    Mutant("handprop/compiled.py", "    if n16 < n:  # the last n − n16 outputs", "    if n16 + 1 < n:  # the last n − n16 outputs",
           "the outputs left over by the 16-wide blocks of 4 rows lose a single remainder"),
    # training.py
    Mutant("handprop/training.py", "for start in range(0, n, batch_size)]", "for start in range(0, n - 1, batch_size)]",
           "the last short batch dropped (issue 22)"),
    Mutant("handprop/training.py", 'LOCKSTEP_TOLERANCE = {"float64": 1e-10,', 'LOCKSTEP_TOLERANCE = {"float64": 1e-7,',
           "lockstep tolerance 1000× looser in float64 (issue 22)"),
    Mutant("handprop/training.py", '"float32": 1e-4}  # rtol', '"float32": 1e-1}  # rtol',
           "lockstep tolerance 1000× looser in float32"),
    Mutant("handprop/training.py", "        allowed = rtol * step + LOCKSTEP_ULPS", "        allowed = 1000 * rtol * step + LOCKSTEP_ULPS",
           "lockstep tolerance 1000× looser where it is applied"),
    Mutant("handprop/backend.py", "self.decay = 1.0 - self.lr * self.l2 / self._x.shape[0]", "self.decay = 1.0 - self.lr * self.l2",
           "weight decay not divided by the training set's size"),
    # the grader's judging
    Mutant("handprop/grading/assignments/network.py", "relative_error(g, d.sum(axis=1)) <= tol", "relative_error(g, d.sum(axis=0)) <= tol",
           "bias-not-reduced by value never diagnosed: summed over the wrong axis (issue 22)"),
    Mutant("handprop/grading/assignments/base.py", "        errors = {name: relative_error(got[name], e) for name, e in expected.items()}",
           "        errors = {name: float(np.max(np.abs(got[name] - e))) for name, e in expected.items()}",
           "pass/fail on absolute instead of relative error (issue 22)"),
    Mutant("handprop/grading/assignments/base.py", "        if error <= rtol:", "        if error <= 10 * rtol:",
           "pass/fail 10× looser than the tolerance asked for"),
    # the sandbox's layer selection
    Mutant("handprop/grading/sandbox/modes.py", "preload=not readable, unshare_net=True,", "preload=not readable, unshare_net=False,",
           "uid mode keeps the network (issue 22)"),
    Mutant("handprop/grading/sandbox/modes.py", '"--unshare-pid", "--unshare-net", "--unshare-ipc"', '"--unshare-pid", "--unshare-ipc"',
           "bwrap keeps the network"),
    Mutant("handprop/grading/sandbox/modes.py", "    else:\n        layers.append(\"packages-unreadable\")", "    layers.append(\"packages-unreadable\")",
           "uid mode claims packages-unreadable where the sandbox user can read them"),
    # _private_tmp runs in the forked child, where mutmut cannot see which test reached it ("no tests")
    Mutant("handprop/grading/sandbox/modes.py", 'options = f"size={size},mode=1777".encode()', 'options = b"mode=1777"',
           "the private tmpfs without its size bound"),
    Mutant("handprop/grading/sandbox/modes.py", "    for folder in SHARED_TMP:\n        if os.path.isdir(folder)", "    for folder in SHARED_TMP[:1]:\n        if os.path.isdir(folder)",
           "only /tmp made private: /var/tmp, /dev/shm and /run/lock shared with classmates"),
    Mutant("handprop/grading/sandbox/modes.py", "    os.chdir(SCRATCH)\n", "",
           "the child left in the grader's folder instead of its private /tmp"),
    Mutant("handprop/grading/sandbox/modes.py", "        libc.unshare(0x20000000)  # CLONE_NEWPID", "        libc.unshare(0x20000001)  # CLONE_NEWPID",
           "the PID namespace's unshare made invalid (its result is not checked): children share the host's PIDs"),
    # explain.py's mini-batch study
    Mutant("handprop/explain.py", "float(np.nanmean(cos)), float(np.nanstd(cos)),", "float(np.nanmean(cos)), float(np.std(ratio)),",
           "cosine spread computed from the norm ratios (issue 22)"),
    Mutant("handprop/explain.py", "err.append(np.linalg.norm(g - g_full) / norm_full)", "err.append(np.linalg.norm(g - g_full))",
           "relative error of the mini-batch gradient not relative"),
]


TESTS_FROM: str | None = None  # --tests-from: a git revision whose tests/ replace the checkout's


# mutmut's survivors that no test can kill, by mutmut's name for them, with the reason (docs/testing.md).
# Left out of the score; a name that no longer exists (the code changed) is simply not matched.
# Functions that run only in a forked child (a subprocess's preexec_fn): mutmut records which test
# reaches a function in the test's own process, so it reports their mutants as reached by no test
# and never runs them. They are left out of the score; hand mutants (HAND) test them instead.
CHILD_SIDE: dict[str, str] = {
    "handprop.grading.sandbox.modes.x__private_tmp": "it runs in the forked child before exec; HAND holds its realistic mutants",
}

EQUIVALENT: dict[str, str] = {
    # grading/assignments/chain_rule.py
    "handprop.grading.assignments.chain_rule.x_chain_variant__mutmut_8": "the activations get one extra entry, never read nor returned",
    **{f"handprop.grading.assignments.chain_rule.x_chain_variant__mutmut_{n}": "a slice one past its end gives the same first element, the only one read"
       for n in (61, 65)},
    **{f"handprop.grading.assignments.chain_rule.xǁChainRuleAssignmentǁmake_case__mutmut_{n}": "an argument equal to Network.from_parameters' default (sigmoid hidden and output, quadratic cost, the dtype of the float64 weights) left out or None"
       for n in (46, 49, 50, 51, 52)},
    **{f"handprop.grading.assignments.chain_rule.xǁChainRuleAssignmentǁmake_case__mutmut_{n}": "an argument equal to NumPy's default left out (normal's scale 1.0, uniform's high 1.0): the same draws"
       for n in (20, 29, 37)},
    "handprop.grading.assignments.base.x_as_array__mutmut_11": "astype(None) is astype(float64): None is NumPy's default dtype",
    # grading/assignments/network.py and layers.py
    **{f"handprop.grading.assignments.network.xǁNetworkAssignmentǁ_network__mutmut_{n}": "dtype None or left out: from_parameters reads it from the weights, drawn float64"
       for n in (6, 12)},
    **{f"handprop.grading.assignments.layers.xǁLayersAssignmentǁmake_case__mutmut_{n}": "dtype None or left out: from_parameters reads it from the weights, drawn float64"
       for n in (146, 150)},
    "handprop.grading.assignments.network.xǁNetworkAssignmentǁ_gradient_catalogue__mutmut_14": "η for backprop (2.0 for 1.0): it is read only for update_mini_batch",
    "handprop.grading.assignments.network.xǁNetworkAssignmentǁshape_tags__mutmut_4": "rstrip also strips X: an array's name ends in its layer's digits after W or b, never in X",
    "handprop.grading.assignments.layers.xǁLayersAssignmentǁmake_case__mutmut_91": "the softmax cross-entropy's value reads z (log-softmax) and y, never a",
    "handprop.grading.assignments.layers.xǁLayersAssignmentǁmake_case__mutmut_100": "the softmax cross-entropy's δ reads a and y, never z",
    "handprop.grading.assignments.network.xǁNetworkAssignmentǁmake_case__mutmut_70": "uniform's high 1.0 left out: NumPy's default, the same draws",
    # grading/sandbox/modes.py
    **{f"handprop.grading.sandbox.modes.x_bwrap_launch__mutmut_{n}": "parents() is only given paths outside SYSTEM (the interpreter's prefix when outside it, /sandbox/site), whose parents are outside it too"
       for n in (23, 27)},
    **{f"handprop.grading.sandbox.modes.x_isolator__mutmut_{n}": "ctypes' errno only feeds the text of an OSError raised in preexec_fn, which subprocess replaces by 'Exception occurred in preexec_fn'"
       for n in (2, 4, 5)},
    "handprop.grading.sandbox.modes.x_none_launch__mutmut_19": "layers=[] left out: the field's default is an empty list",
    "handprop.grading.assignments.network.xǁNetworkAssignmentǁcatalogue__mutmut_89": "factor_2=None for False: explain_scale only asks whether it is true",
    "handprop.grading.assignments.network.xǁNetworkAssignmentǁshape_tags__mutmut_27": "the batch size read from y instead of x: both have the batch's n rows",
    **{f"handprop.grading.assignments.layers.xǁLayersAssignmentǁmake_case__mutmut_{n}": "normal's scale 1.0 left out: NumPy's default, the same draws"
       for n in (29, 138, 178)},
    **{f"handprop.grading.assignments.network_template.x_render_template__mutmut_{n}": "the default of CE_PER_EXAMPLE.get: every output (sigmoid, softmax) has an entry, so it is never used"
       for n in (5, 7, 8)},
    "handprop.grading.assignments.layers.xǁLayersAssignmentǁcatalogue__mutmut_93": "n from the second argument: x (linear_backward) and y (softmax_cross_entropy) have the batch's n rows, as the first does",
    # training.py: the progress bar's refresh interval (tqdm's mininterval) changes how often it redraws, not what it counts
    **{f"handprop.training.x_{f}__mutmut_{n}": "the bar's refresh interval (mininterval 0.5 s → 1.5 s, None or tqdm's default): how often it redraws, not what it shows"
       for f, ns in (("train_epoch", (16, 22, 30)), ("lockstep_epoch", (27, 33, 41))) for n in ns},
    "handprop.activations.xǁActivationǁbackward__mutmut_8": "softmax's vector–Jacobian product reads a and ∂C/∂a, never z: passing None for z changes nothing",
    # network.py
    "handprop.network.xǁNetworkǁ_batch_gradients__mutmut_3": "the batch size read from the first hidden layer's activations instead of the input's: every layer has n rows",
    "handprop.network.xǁNetworkǁfrom_parameters__mutmut_42": "float64 left out of the accepted names: a float64 first matrix then falls to the default, float64",
    "handprop.network.xǁNetworkǁfrom_parameters__mutmut_43": "float64 left out of the accepted names: a float64 first matrix then falls to the default, float64",
    "handprop.network.xǁNetworkǁfrom_parameters__mutmut_49": "the ndim ≠ 2 branch is unreachable: every matrix was checked 2-D just above",
    "handprop.network.xǁNetworkǁfrom_parameters__mutmut_55": "the ndim ≠ 2 branch is unreachable: every matrix was checked 2-D just above",
    "handprop.network.xǁNetworkǁfrom_parameters__mutmut_56": "the ndim ≠ 2 branch is unreachable: every matrix was checked 2-D just above",
    "handprop.network.xǁNetworkǁfrom_parameters__mutmut_70": "the seed of the initial parameters: set_parameters overwrites every one of them",
    "handprop.network.xǁNetworkǁfrom_parameters__mutmut_72": "the seed of the initial parameters: set_parameters overwrites every one of them",
    "handprop.network.xǁNetworkǁcopy__mutmut_6": "dtype None: from_parameters reads it from the copied weights, which have it",
    "handprop.network.xǁNetworkǁcopy__mutmut_12": "dtype left out: from_parameters reads it from the copied weights, which have it",
    "handprop.network.xǁNetworkǁiter_per_example_gradients__mutmut_1": "a default chunk of 1001 instead of 1000 examples: the same per-example gradients, chunked differently",
    # training.py
    "handprop.training.x_step_differences__mutmut_17": "one name too many for the biases: zip stops at the last array, so the extra name is never used",
    # diagnose.py
    "handprop.grading.diagnose.x_fitted_scale__mutmut_7": "an empty `got` made np.zeros(1): it then has ref's shape only when ref is one number, and s = 0 returns None as before",
    "handprop.grading.diagnose.x_fitted_scale__mutmut_14": "an empty `ref` made np.zeros(1): r·r = 0 returns None as before",
    "handprop.grading.diagnose.x_explain_scale__mutmut_17": "n > 1 → n >= 1: at n = 1 the batch factors are 1, which no smallest combination needs (s = 1 is () at size 0)",
    "handprop.grading.diagnose.x_explain_scale__mutmut_31": "range(0, 4) → range(4): the same range",
    "handprop.grading.diagnose.x_explain_scale__mutmut_34": "combinations of 4 tags: every one either repeats factor-2 (skipped) or has a product found at size 2",
    "handprop.grading.diagnose.x_explain_scale__mutmut_44": "np.prod of no factors is 1.0, the value the condition chose",
    "handprop.grading.diagnose.x_from_candidates__mutmut_14": "Verdict's candidates default to [], the value dropped",
}


def scratch_copy() -> Path:
    """The checkout's files (tracked and untracked-but-not-ignored) in a fresh folder; with
    ``TESTS_FROM`` its tests/ are that revision's (to score the tests as they were)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")  # fmt: skip
    target = Path(tempfile.mkdtemp(prefix="handprop-mutation-"))
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    if TESTS_FROM:
        shutil.rmtree(target / "tests")
        archive = subprocess.run(["git", "archive", TESTS_FROM, "tests"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    shared = ROOT.parent / "shared"
    if shared.exists() and not (target.parent / "shared").exists():
        os.environ.setdefault("HANDPROP_DATA", str(shared / "data"))  # tests find MNIST beside the checkout
    return target


def environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("PYTEST_ADDOPTS", None)
    return env


def run_tests(copy: Path, tests: list[str], timeout: float) -> tuple[bool, str]:
    """True when the tests pass on the copy as it is now (test files it lacks, say in an older
    checkout, are left out)."""
    tests = [t for t in tests if (copy / t.split("::")[0]).exists()]
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *tests]
    try:
        done = subprocess.run(command, cwd=copy, env=environment(copy), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "timeout"
    last = (done.stdout.strip().splitlines() or [""])[-1]
    return done.returncode == 0, last


def hand(name: str, module: Module, mutants: list[Mutant], timeout: float) -> tuple[int, int, list[str]]:
    copy = scratch_copy()
    try:
        ok, last = run_tests(copy, module.tests, timeout)
        if not ok:
            raise SystemExit(f"{name}: the tests fail without any mutant ({last}); fix that first")
        killed, total, survivors = 0, 0, []
        for mutant in mutants:
            path = copy / mutant.path
            text = path.read_text()
            if text.count(mutant.old) != 1:
                raise SystemExit(f"{name}: {mutant.what!r}: its text occurs {text.count(mutant.old)} times in {mutant.path}, not once")
            path.write_text(text.replace(mutant.old, mutant.new))
            started = time.perf_counter()
            passed, last = run_tests(copy, module.tests, timeout)
            path.write_text(text)
            verdict = "killed  " if not passed else "equival." if mutant.equivalent else "survived"
            print(f"  {verdict} {time.perf_counter() - started:6.1f} s  {mutant.what}  [{last}]", flush=True)
            if mutant.equivalent:
                print(f"           {mutant.equivalent}", flush=True)
                continue  # not counted: an equivalent mutant cannot be killed
            killed += not passed
            total += 1
            if passed:
                survivors.append(mutant.what)
        return killed, total, survivors
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _mutmut_config(copy: Path, module: Module) -> None:
    """The copy's pyproject.toml, with [tool.mutmut] narrowed to one module and its tests."""
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    only = [module.path + "/*"] if (copy / module.path).is_dir() else [module.path]
    section = (
        "[tool.mutmut]\n"
        'source_paths = ["handprop"]\n'
        f"only_mutate = {json.dumps(only)}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(module.tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-n", "0"]\n'  # mutmut sees the tests of its own process only
        'process_isolation = "forkserver"\n'  # torch is not fork-safe once its threads have run
        'also_copy = ["verify", "tests", "data", "examples", "docs", "tools", "README.md"]\n'
    )
    text = re.sub(r"\[tool\.mutmut\]\n(?:[^\[].*\n|\n)*", "", text)
    pyproject.write_text(text.rstrip() + "\n\n" + section)


def mutmut(name: str, module: Module, timeout: float, functions: list[str]) -> tuple[int, int, list[str]]:
    copy = scratch_copy()
    try:
        _mutmut_config(copy, module)
        env = environment(copy)
        env.pop("PYTHONPATH")  # mutmut puts its mutants/ folder first itself
        command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(os.cpu_count() or 1), *functions]
        try:
            done = subprocess.run(command, cwd=copy, env=env, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        except subprocess.TimeoutExpired:
            print(f"  mutmut stopped after {timeout:.0f} s: the counts below are of the mutants it finished", flush=True)
        else:
            ran = [code for meta in (copy / "mutants").rglob("*.meta")
                   for code in json.loads(meta.read_text()).get("exit_code_by_key", {}).values() if code is not None]  # fmt: skip
            if not ran:  # no mutant generated, or no test reached one: that is no score, not 100 %
                raise SystemExit(f"mutmut ran no mutant of {module.path} (exit {done.returncode}):\n{done.stdout[-3000:]}")
        killed, total, survivors, unseen = 0, 0, [], 0
        for meta in sorted((copy / "mutants").rglob("*.meta")):
            results = json.loads(meta.read_text()).get("exit_code_by_key", {})
            for key, code in results.items():
                if code is None:  # not run (stopped early)
                    continue
                if code == 33 and key.rsplit("__mutmut_", 1)[0] in CHILD_SIDE:
                    unseen += 1  # reached only in a forked child: not measured here (the hand mutants stand in)
                    continue
                if code in (5, 33) or (code == 0 and key not in EQUIVALENT):  # no test ran it, or none failed
                    code = 0
                if code == 0 and key in EQUIVALENT:
                    print(f"  equivalent {key}: {EQUIVALENT[key]}", flush=True)
                    continue
                total += 1
                if code == 0:
                    survivors.append(key)
                else:
                    killed += 1
        if unseen:
            print(f"  {unseen} mutants of {', '.join(sorted(CHILD_SIDE))} not measured: {' '.join(sorted(set(CHILD_SIDE.values())))}", flush=True)
        for key in survivors:
            diff = subprocess.run([sys.executable, "-m", "mutmut", "show", key], cwd=copy, env=env, capture_output=True, text=True)
            print(f"  survived {key}\n" + "\n".join("    " + line for line in diff.stdout.splitlines()[2:]), flush=True)
        return killed, total, survivors
    finally:
        if not os.environ.get("HANDPROP_MUTATION_KEEP"):
            shutil.rmtree(copy, ignore_errors=True)
        else:
            print(f"  kept {copy}", flush=True)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still removes its scratch copy
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules to mutate (default: all of {', '.join(MODULES)})")
    parser.add_argument("--hand", action="store_true", help="run only the hand-chosen mutants, for every module given")
    parser.add_argument("--list", action="store_true", help="list the modules, their tests and method, and stop")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per module for mutmut, per mutant for hand")
    parser.add_argument("--functions", metavar="GLOB", nargs="+",
                        help="mutmut: only the mutants of these functions (mutmut's names, e.g. 'handprop.training.x_batch_bounds*')")
    parser.add_argument("--match", metavar="TEXT", help="only the hand-chosen mutants whose description contains TEXT")
    parser.add_argument("--tests-from", metavar="REV", help="score the tests of git revision REV instead (the 'before' column)")
    parser.add_argument("--threshold", type=float, default=90.0, help="the least score (%%) each module must reach")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; expected some of {', '.join(MODULES)}")
    names = args.modules or list(MODULES)
    global TESTS_FROM
    TESTS_FROM = args.tests_from
    if args.list:
        for name in names:
            m = MODULES[name]
            print(f"{name:12} {m.method:7} {m.path}  tests: {' '.join(m.tests)}")
        return 0
    rows, low = [], False
    for name in names:
        module = MODULES[name]
        prefix = module.path if module.path.endswith(".py") else module.path + "/"
        mine = [m for m in HAND if m.path.startswith(prefix) and (not args.match or args.match in m.what)]
        method = "hand" if args.hand or module.method == "hand" else "mutmut"
        if method == "hand" and not mine:
            continue
        print(f"{name} ({module.path}, {method}, tests: {' '.join(module.tests)})", flush=True)
        started = time.perf_counter()
        if method == "hand":
            killed, total, survivors = hand(name, module, mine, args.timeout)
        else:
            killed, total, survivors = mutmut(name, module, args.timeout, args.functions or [])
        seconds = time.perf_counter() - started
        score = 100.0 * killed / total if total else 100.0
        low |= score < args.threshold
        rows.append((name, method, killed, total, score, seconds))
        print(f"{name}: {killed}/{total} killed, {score:.1f} %, {seconds:.0f} s", flush=True)
    print("\nmodule        method   killed  total   score     time")
    for name, method, killed, total, score, seconds in rows:
        print(f"{name:13} {method:7} {killed:7} {total:6} {score:6.1f} % {seconds:7.0f} s")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
