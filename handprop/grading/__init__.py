"""Grade students' backprop implementations against the reference engine.

    from handprop.grading import GradingConfig, grade_file, to_gradescope
    report = grade_file("student.py", GradingConfig(seed=1, cases=5))

The submission runs only in a sandboxed child process (``sandbox.py``); expected values are
computed by the engine in the grader's process and never leave it. See docs/grading.md.
"""

from .assignments import ASSIGNMENTS, Assignment, get_assignment
from .config import GradingConfig, SandboxLimits
from .diagnose import TAGS
from .grader import FunctionSummary, GradeReport, TestResult, grade_file, grade_source
from .report import render, to_gradescope, to_json, to_text, write_atomic
from .sandbox import SandboxError
from .template import TEMPLATE, write_template

__all__ = [
    "ASSIGNMENTS",
    "Assignment",
    "TAGS",
    "TEMPLATE",
    "FunctionSummary",
    "GradeReport",
    "GradingConfig",
    "SandboxError",
    "SandboxLimits",
    "TestResult",
    "grade_file",
    "get_assignment",
    "grade_source",
    "render",
    "to_gradescope",
    "to_json",
    "to_text",
    "write_atomic",
    "write_template",
]
