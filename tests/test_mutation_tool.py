"""tools/mutation.py stays runnable as the code moves: each hand-chosen mutant's text is still found
exactly once (a refactor that moves a line would otherwise stop `--hand` at that mutant), every test
path a module names exists, and every equivalent mutant names a module that is mutated."""

from __future__ import annotations

import pytest

from tools.mutation import CHILD_SIDE, EQUIVALENT, HAND, MODULES, ROOT


@pytest.mark.parametrize("mutant", HAND, ids=lambda m: m.what[:60])
def test_each_hand_mutant_applies_once(mutant):
    text = (ROOT / mutant.path).read_text(encoding="utf-8")
    assert text.count(mutant.old) == 1, f"{mutant.path} holds {mutant.what!r}'s text {text.count(mutant.old)} times"
    assert mutant.old != mutant.new


def test_each_hand_mutant_belongs_to_a_module():
    """tools/mutation.py runs a hand mutant with the module whose path holds it: one in no module never runs."""
    prefixes = [m.path if m.path.endswith(".py") else m.path + "/" for m in MODULES.values()]
    for mutant in HAND:
        assert any(mutant.path.startswith(p) for p in prefixes), f"{mutant.what!r} ({mutant.path}) belongs to no module"


def test_each_module_s_tests_exist():
    for name, module in MODULES.items():
        assert (ROOT / module.path).exists(), name
        for test in module.tests:
            assert (ROOT / test.split("::")[0]).is_file(), f"{name}: {test}"


def test_each_listed_mutant_is_of_a_mutated_module():
    paths = {module.path.removesuffix(".py").replace("/", ".") for module in MODULES.values()}
    for key in [*EQUIVALENT, *CHILD_SIDE]:
        dotted = key.split(".x")[0].split(".xǁ")[0]
        assert any(dotted == p or dotted.startswith(p + ".") for p in paths), key
        assert EQUIVALENT.get(key, CHILD_SIDE.get(key)), key  # each says why
