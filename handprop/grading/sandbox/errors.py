"""The sandbox's own error, in a module of its own so that every part of the sandbox can raise it
without importing the package that assembles them (``__init__.py`` imports ``modes.py``)."""

from __future__ import annotations


class SandboxError(RuntimeError):
    """The grader could not run the submission at all (a setup problem, not the student's fault)."""
