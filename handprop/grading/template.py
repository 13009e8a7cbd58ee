"""The student's starter file of an assignment, written where the instructor asks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from .assignments.network_template import render_template

# The default assignment's starter file (network: sigmoid, sigmoid output, quadratic cost).
TEMPLATE = render_template("sigmoid", "sigmoid", "quadratic")


def write_template(path: Union[str, os.PathLike], overwrite: bool = False, text: str = TEMPLATE) -> Path:
    """Write the starter file ``text`` to ``path``; refuses to replace an existing file unless ``overwrite``."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; choose another name or pass --force to replace it")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"folder {target.parent} does not exist")
    target.write_text(text, encoding="utf-8")
    return target
