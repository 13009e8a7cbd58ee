"""Pairs of submissions that look copied: near-identical code after normalising names and
formatting, or bit-identical wrong answers on the same cases.

Code is compared as its syntax tree: docstrings dropped, every identifier the student chose
(variables, arguments, functions, import aliases) renamed canonically in order of first
appearance, then dumped and compared as token sequences (difflib's ratio). Renaming variables,
reformatting, and editing comments or docstrings changes nothing; attribute names (np.exp) and
constants are kept. Identical answers are judged by digests of the returned values
(``TestResult.value_digest``) of failed cases with the same case id: two independent wrong
programs rarely agree to the last bit.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import hashlib
import itertools
import re
from dataclasses import dataclass
from typing import Optional

THRESHOLD = 0.95  # share of matching tokens above which two normalised programs count as near-identical
_BUILTINS = frozenset(dir(builtins))
_TOKEN = re.compile(r"\w+|[^\w\s]")


class _Canonical(ast.NodeTransformer):
    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        if name in _BUILTINS:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def _strip_docstring(self, node: ast.AST) -> None:
        body = getattr(node, "body", None)
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]

    def visit_Module(self, node: ast.Module) -> ast.AST:
        self._strip_docstring(node)
        return self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self._strip_docstring(node)
        node.name = self._name(node.name)
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self._strip_docstring(node)
        node.name = self._name(node.name)
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._name(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._name(node.arg)
        node.annotation = None
        return node

    def visit_alias(self, node: ast.alias) -> ast.AST:
        node.asname = self._name(node.asname or node.name.split(".")[0])
        return node


def normalise(source: str) -> Optional[list[str]]:
    """The program as canonical tokens, or None when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    tree = _Canonical().visit(tree)
    return _TOKEN.findall(ast.dump(tree, annotate_fields=False, include_attributes=False))


@dataclass
class SimilarPair:
    first: str
    second: str
    code_similarity: Optional[float]  # share of matching normalised tokens, when near-identical
    identical_outputs: list[str]  # "backprop case 3 (id 1a2b…)" for each bit-identical wrong answer

    @property
    def evidence(self) -> str:
        parts = []
        if self.code_similarity is not None:
            parts.append(f"code {self.code_similarity:.0%} identical after renaming identifiers and removing formatting, comments and docstrings")
        if self.identical_outputs:
            shown = ", ".join(self.identical_outputs[:6]) + (f" and {len(self.identical_outputs) - 6} more" if len(self.identical_outputs) > 6 else "")
            parts.append(f"bit-identical wrong answers on {shown}")
        return "; ".join(parts)


def code_pairs(sources: dict[str, str], threshold: float = THRESHOLD) -> dict[tuple[str, str], float]:
    """Pairs of students (in name order) whose normalised code is at least ``threshold`` alike."""
    tokens = {name: t for name, t in ((n, normalise(s)) for n, s in sources.items()) if t}
    digest = {name: hashlib.sha256("\0".join(t).encode()).hexdigest() for name, t in tokens.items()}
    found: dict[tuple[str, str], float] = {}
    for a, b in itertools.combinations(sorted(tokens), 2):
        if digest[a] == digest[b]:  # identical: no need to align them
            found[(a, b)] = 1.0
            continue
        matcher = difflib.SequenceMatcher(None, tokens[a], tokens[b], autojunk=False)
        if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
            continue
        ratio = matcher.ratio()
        if ratio >= threshold:
            found[(a, b)] = ratio
    return found


def output_pairs(answers: dict[str, list[tuple[str, int, str, str]]]) -> dict[tuple[str, str], list[str]]:
    """Pairs of students with bit-identical wrong answers on the same case: ``answers`` maps a
    student to (function, case number, case id, value digest) of each failed case."""
    holders: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
    for student, items in answers.items():
        for function, number, case_id, digest in items:
            if case_id and digest:
                holders.setdefault((function, case_id, digest), []).append((student, number))
    found: dict[tuple[str, str], list[tuple[str, int, str]]] = {}
    for (function, case_id, _), who in holders.items():
        for (a, number), (b, _) in itertools.combinations(sorted(who), 2):
            found.setdefault((a, b), []).append((function, number, case_id))
    order = {f: i for i, f in enumerate(dict.fromkeys(f for items in answers.values() for f, *_ in items))}
    return {pair: [f"{f} case {n} (id {c})" for f, n, c in sorted(items, key=lambda t: (order[t[0]], t[1]))] for pair, items in found.items()}


def similar_pairs(sources: dict[str, str], answers: dict[str, list[tuple[str, int, str, str]]], threshold: float = THRESHOLD) -> list[SimilarPair]:
    """Every suspicious pair with its evidence, in name order."""
    code = code_pairs(sources, threshold)
    outputs = output_pairs(answers)
    return [SimilarPair(a, b, code.get((a, b)), outputs.get((a, b), [])) for a, b in sorted(set(code) | set(outputs))]
