"""The grading settings: which assignment, its points, how many cases, tolerance, sandbox limits; and the
instructor's course file (TOML) that holds them."""

from __future__ import annotations

import math

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

# Gradescope's per-test visibility values (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
VISIBILITIES: tuple[str, ...] = ("hidden", "after_due_date", "after_published", "visible")

from .sandbox.limits import (  # noqa: F401  (re-exported: the sandbox's own types live in it)
    FORBIDDEN_IMPORTS, MAX_TIMEOUT, NOBODY_UID, SANDBOX_MODES, SANDBOX_NEEDS, SLOT_UID_BASE, SandboxLimits, default_sandbox_uid,
)  # fmt: skip


@dataclass(frozen=True)
class GradingConfig:
    """How a submission is graded.

    ``assignment`` names a built-in assignment (``handprop.grading.assignments``) and ``options``
    its options. Each function gets ``cases`` randomized cases drawn from ``seed``; each case is
    worth ``points[function] / cases`` (``points`` defaults to the assignment's; given, it is laid
    over them). A value passes when max|got − expected| ≤ rtol · max|expected| for every returned
    array (a relative tolerance on the array's scale, in float64). The last ``hidden`` cases of
    every function carry Gradescope visibility ``hidden_visibility``. ``file`` names the file graded
    in a folder, zip or multi-file submission (default: the template's name).
    """

    assignment: str = "network"
    options: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    cases: int = 5
    hidden: int = 0
    hidden_visibility: str = "after_published"
    rtol: float = 1e-5
    points: Optional[dict[str, float]] = None
    file: Optional[str] = None
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)
    sandbox_mode: str = "auto"  # auto | bwrap | uid | none (see handprop.grading.sandbox.modes)
    features: Any = None  # issue 20's features (features.CourseFeatures); None: all off

    def __post_init__(self) -> None:
        from .. import settings
        from .assignments import get_assignment
        from .features import features_from_dict

        object.__setattr__(self, "features", features_from_dict(self.features))  # issue 20 hook

        if not isinstance(self.options, dict):
            raise ValueError(f"options must be a table of option = value, got {self.options!r}")
        assignment = get_assignment(self.assignment, **self.options)
        settings.seed(self.seed)
        settings.cases(self.cases)
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or not 0 <= self.hidden <= self.cases:
            raise ValueError(f"hidden must be an integer from 0 to cases ({self.cases}), got {self.hidden!r}")
        if self.hidden_visibility not in VISIBILITIES:
            raise ValueError(f"hidden_visibility must be one of {', '.join(VISIBILITIES)}, got {self.hidden_visibility!r}")
        settings.rtol(self.rtol)
        if self.sandbox_mode not in SANDBOX_MODES:
            raise ValueError(f"sandbox_mode must be one of {', '.join(SANDBOX_MODES)}, got {self.sandbox_mode!r}")
        if self.file is not None and (not isinstance(self.file, str) or not self.file or "/" in self.file or "\\" in self.file):
            raise ValueError(f"file must be a file name such as backprop_assignment.py, got {self.file!r}")
        given = self.points or {}
        if not isinstance(given, dict):
            raise ValueError(f"points must be a table of function = points, got {given!r}")
        unknown = set(given) - set(assignment.functions)
        if unknown:
            raise ValueError(f"points given for unknown functions {sorted(unknown)}; expected some of {', '.join(assignment.functions)}")
        for name, value in given.items():
            settings.points(value, f"points for {name}")
        merged = {**assignment.default_points(), **{k: float(v) for k, v in given.items()}}
        settings.points_total(math.fsum(merged.values()), f"the points ({', '.join(f'{k} = {v:g}' for k, v in merged.items())})")
        object.__setattr__(self, "points", merged)

    def get_assignment(self):
        """The Assignment value these settings grade."""
        from .assignments import get_assignment

        return get_assignment(self.assignment, **self.options)

    @property
    def functions(self) -> tuple[str, ...]:
        """The graded functions, in the assignment's order (a function given 0 points is still graded)."""
        return self.get_assignment().functions

    @property
    def max_score(self) -> float:
        points = self.points or {}  # always set by __post_init__
        return float(sum(points.get(f, 0.0) for f in self.functions))


# -- the instructor's course file (TOML) -----------------------------------------------------------

# Top-level keys of a course file and the GradingConfig field each sets.
CONFIG_KEYS: tuple[str, ...] = (
    "assignment", "seed", "cases", "hidden", "hidden_visibility", "rtol", "file", "sandbox_mode", "options", "points", "limits",
)  # fmt: skip
# Keys of its [limits] table: the SandboxLimits fields an instructor sets.
LIMIT_KEYS: tuple[str, ...] = ("timeout", "memory_mb", "max_processes", "max_file_mb", "forbidden_imports")


def _toml():
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # Python 3.10: the backport, a conditional dependency
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib


def read_config_file(path: Union[str, os.PathLike]) -> dict[str, Any]:
    """The settings of a course file as GradingConfig keyword arguments (``limits`` as a dict).

    Raises ValueError naming the file and the key for an unknown key, a table where a value belongs
    (or the reverse), or unreadable TOML; values themselves are checked by ``config_from_settings``.
    """
    source = Path(path)
    try:
        text = source.read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read the config file {source}: {error.strerror or error}") from None
    try:
        data = _toml().loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:  # TOMLDecodeError is a ValueError
        raise ValueError(f"{source} is not valid TOML: {error}") from None
    from .features import FEATURE_KEYS  # issue 20 hook: its keys are checked by pop_features

    for key, value in data.items():
        if key in FEATURE_KEYS:
            continue
        if key not in CONFIG_KEYS:
            raise ValueError(f"{source}: unknown key {key!r}; expected some of {', '.join(CONFIG_KEYS + FEATURE_KEYS)}")
        is_table = key in ("options", "points", "limits")
        if is_table != isinstance(value, dict):
            raise ValueError(f"{source}: {key} must be {'a table [' + key + ']' if is_table else 'a value, not a table'}")
    secret_file = data.get("secret_file")  # issue 20: a relative secret_file is beside the course file
    if isinstance(secret_file, str) and secret_file and not os.path.isabs(secret_file):
        data["secret_file"] = str(source.parent / secret_file)
    for key in data.get("limits", {}):
        if key not in LIMIT_KEYS:
            raise ValueError(f"{source}: unknown key 'limits.{key}'; expected some of {', '.join(LIMIT_KEYS)}")
    return data


def config_from_settings(settings: dict[str, Any], where: str = "config") -> GradingConfig:
    """A GradingConfig from plain settings (a course file's, with flags laid over them).

    Every bad value is one ValueError that names its key, e.g. ``course.toml: limits.timeout: …``.
    """
    from .features import pop_features

    settings = dict(settings)
    features = pop_features(settings, where)  # issue 20 hook
    limits = dict(settings.pop("limits", None) or {})
    if "forbidden_imports" in limits:
        value = limits["forbidden_imports"]
        if not isinstance(value, list) or not all(isinstance(m, str) and m.isidentifier() for m in value):
            raise ValueError(f"{where}: limits.forbidden_imports must be a list of module names, got {value!r}")
        limits["forbidden_imports"] = tuple(value)
    for key, value in limits.items():
        try:
            SandboxLimits(**{key: value})
        except (ValueError, TypeError) as error:
            raise ValueError(f"{where}: limits.{key}: {error}") from None
    try:
        sandbox = SandboxLimits(**limits)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{where}: limits: {error}") from None
    # The assignment first, then its options: the other keys are checked against them.
    for keys in (("assignment",), ("assignment", "options")):
        if keys[-1] in settings:
            try:
                GradingConfig(**{k: settings[k] for k in keys if k in settings})
            except (ValueError, TypeError) as error:
                raise ValueError(f"{where}: {keys[-1]}: {error}") from None
    base = {k: settings[k] for k in ("assignment", "options") if k in settings}
    for key in settings:
        if key in ("assignment", "options"):
            continue
        trial = dict(base, cases=settings["cases"]) if key == "hidden" and "cases" in settings else dict(base)
        trial[key] = settings[key]
        try:
            GradingConfig(**trial)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{where}: {key}: {error}") from None
    try:
        return GradingConfig(sandbox=sandbox, features=features, **settings)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{where}: {error}") from None
