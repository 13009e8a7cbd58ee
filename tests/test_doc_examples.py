"""Example outputs in README.md and docs/*.md match what their commands print (tools/doc_examples.py).

To fix a failure after an intended change of output: ``python tools/doc_examples.py --update``.
"""

from __future__ import annotations

import shlex

import pytest

from handprop.cli import build_parser
from tools.doc_examples import REPO, abbreviated, differences, documents, find_examples, run

EXAMPLES = [e for path in documents(REPO) for e in find_examples(path)]


def test_the_docs_have_examples():
    assert any(not e.slow for e in EXAMPLES) and all(e.commands for e in EXAMPLES)


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e.slow], ids=lambda e: e.where)
def test_example_output_is_what_the_command_prints(example, data_root):
    diff = differences(example.output, run(example, data_root))
    assert not diff, f"{example.where} is stale; rerun `python tools/doc_examples.py --update`:\n" + "\n".join(diff)


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.slow], ids=lambda e: e.where)
def test_slow_example_commands_still_parse(example):
    """Too slow to run in the suite (``--update --slow`` regenerates them); their flags must still exist."""
    for command in example.commands:
        argv = shlex.split(command)
        if argv[0] == "handprop":
            build_parser().parse_args(argv[1:])


def test_masks_hide_timings_and_round_off_but_not_results():
    assert not differences("epoch 1, 0.66 s, err 1.35e-15, torch 2.1.0 autograd", "epoch 1, 2.50 s, err 3.1e-16, torch 2.5.1+cpu autograd")
    assert differences("dC/dW1  1.00e-01  ok", "dC/dW1  1.00e-01  FAIL")
    assert differences("test accuracy 90.40%", "test accuracy 90.41%")


def test_an_ellipsis_line_stands_for_any_lines():
    assert not differences("a\n   …\nd", "a\nb\nc\nd") and not differences("a\n…\nd", "a\nd")
    assert differences("a\n…\nd", "a\nb\nc\ne")
    assert abbreviated("a\n…\nd 1.0 s", "a\nb\nc\nd 2.0 s") == "a\n…\nd 2.0 s"


def test_named_examples_are_found_once_and_selected_by_name():
    """docs/grading.md's graded examples (``<!-- example:NAME -->``) are checked here, once each."""
    named = [e for e in EXAMPLES if e.names]
    assert {"network", "chain-rule", "layers"} <= {name for e in named for name in e.names}
    assert len({(e.path, e.line) for e in EXAMPLES}) == len(EXAMPLES)
    assert all(len([e for e in named if name in e.names]) == 1 for name in ("network", "chain-rule", "layers"))
    network = next(e for e in named if "network" in e.names)
    assert network.selected_by("network") and network.selected_by("grade") and not network.selected_by("layers")
