"""The student's starter file of an assignment, written where the instructor asks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Union

from .assignments.network_template import render_template

# The default assignment's starter file (network: sigmoid, sigmoid output, quadratic cost).
TEMPLATE = render_template("sigmoid", "sigmoid", "quadratic")


def write_template(
    path: Union[str, os.PathLike], overwrite: bool = False, text: str = TEMPLATE, inputs: Iterable[Optional[Union[str, os.PathLike]]] = ()
) -> Path:
    """Write the starter file ``text`` to ``path`` atomically; refuses to replace an existing file
    unless ``overwrite``, and one of ``inputs`` (the course file) always (``handprop.outputs``)."""
    from ..outputs import check_new_file, write_text

    target = check_new_file(path, force=overwrite, what="the starter file", inputs=[i for i in inputs if i is not None])
    return write_text(target, text)
