"""The video's explanation as one self-contained HTML page, computed in the browser.

``build_page`` writes everything a learner needs into one HTML string: the network's parameters, a
sample of test images, the page's script and style (package data in ``handprop/explain_page/``) and
the mini-batch study, which the engine computes here in advance (``handprop.explain.minibatch_study``).
The page itself computes the forward pass, the cost, the desired nudges and the per-example gradient
of whichever digit is picked or drawn, in double precision, with the engine's formulas
(``Network._forward``, ``Cost.per_example``, ``Cost.grad_a``, ``Cost.delta``, BP1–BP4), and writes its
numbers as JSON into the element ``#handprop-state`` so a test can compare them with the engine.

Exactness: every parameter is converted to float64 (exact from float32) and embedded as base64 of its
little-endian IEEE-754 bytes, which the page decodes with ``DataView.getFloat64``; pixels are embedded
as the bytes k of k/255 (how ``handprop.data`` scales MNIST), so the page's input is the engine's input
to the last bit.

Costs follow the engine: C_x is one example's own cost (a batch's C is the mean of its C_x); for the
quadratic cost C_x = ½‖a − y‖².
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from .atomic import atomic_open
from .explain import MiniBatchStudy
from .network import Network

logger = logging.getLogger(__name__)

Array = np.ndarray
PIXELS = 784  # the page draws 28×28 images
SIDE = 28
MAX_BYTES = 2_000_000  # the page's size limit
MAX_DIGITS = 1000  # test images embedded at most (0 … 999: index 149, the docs' example, among them)
TEMPLATE_SLACK = 80_000  # bytes kept for the template, titles and the study when budgeting images
# the slider's batch sizes: about three per decade, up to the whole training set
STUDY_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000)
PAGE_FILES = ("page.html", "page.css", "page.js")


class PageError(ValueError):
    """A network or data set the page cannot show; the message says why in one line."""


def check_network(net: Network) -> None:
    """Raise ``PageError`` unless ``net`` takes 28×28 = 784 pixels and has a hidden layer."""
    if net.sizes[0] != PIXELS:
        raise PageError(
            f"the explain page draws 28×28 images, so it needs a network with {PIXELS} inputs; "
            f"this one ({'-'.join(map(str, net.sizes))}) has {net.sizes[0]}"
        )
    if net.num_layers < 2:
        raise PageError("the explain page needs a network with at least one hidden layer")


def _f64_base64(arrays: Sequence[Array]) -> str:
    """Every array's values as float64, concatenated, little-endian, base64 (exact: float32 → float64 is)."""
    flat = np.concatenate([np.asarray(a, dtype="<f8").ravel() for a in arrays]) if arrays else np.zeros(0)
    return base64.b64encode(flat.astype("<f8").tobytes()).decode("ascii")


def _pixel_bytes(X: Array) -> Array:
    """The images (n, 784) as bytes k with X = k/255 exactly, as ``handprop.data`` loads MNIST."""
    k = np.rint(np.asarray(X, dtype=np.float64) * 255)
    if not (np.all((k >= 0) & (k <= 255)) and np.array_equal(k / 255.0, X)):
        raise PageError("the page embeds images as k/255 (k = 0…255), as handprop loads MNIST; these are not")
    return k.astype(np.uint8)  # (n, 784)


def digits_budget(net: Network, limit: int = MAX_BYTES) -> int:
    """How many test images fit beside the parameters in a page of at most ``limit`` bytes."""
    n_params = sum(W.size + b.size for W, b in zip(net.weights, net.biases))
    left = limit - TEMPLATE_SLACK - 4 * (8 * n_params + 2) // 3
    return max(0, min(MAX_DIGITS, left // (4 * (PIXELS + 2) // 3 + 2)))


def page_data(
    net: Network,
    X_test: Array,
    y_test: Array,
    study: Optional[MiniBatchStudy],
    title: str = "",
    class_names: Optional[Sequence[str]] = None,
    digits: Optional[int] = None,
    start: int = 0,
) -> dict[str, Any]:
    """The JSON the page reads: architecture, exact parameters, the first ``digits`` test images, the study.

    ``start`` is the test index the page opens at (0 when it is not among the embedded images).
    """
    check_network(net)
    n = digits_budget(net) if digits is None else digits
    n = min(n, len(y_test))
    if n < 1:
        raise PageError(
            f"the network's {sum(W.size + b.size for W, b in zip(net.weights, net.biases)):,} parameters leave "
            f"no room for test images in a page of at most {MAX_BYTES / 1e6:.0f} MB"
        )
    names = list(class_names) if class_names is not None else [str(j) for j in range(net.sizes[-1])]
    if len(names) != net.sizes[-1]:
        raise PageError(f"{len(names)} class names for a network with {net.sizes[-1]} outputs")
    pixels = _pixel_bytes(X_test[:n])  # (n, 784)
    data: dict[str, Any] = {
        "title": title,
        "start": int(start) if 0 <= int(start) < n else 0,
        "sizes": list(net.sizes),
        "hidden": list(net.hidden),
        "output": net.output,
        "cost": net.cost_name,
        "dtype": net.dtype.name,
        "class_names": names,
        # W¹, b¹, W², b², … each row-major (out, in), as float64
        "parameters": _f64_base64([p for W, b in zip(net.weights, net.biases) for p in (W, b)]),
        "digits": {"count": n, "pixels": base64.b64encode(pixels.tobytes()).decode("ascii"),
                   "labels": [int(v) for v in y_test[:n]]},
        "study": None if study is None else {
            "examples": study.examples, "full_cost": study.full_cost, "full_norm": study.full_norm,
            "rows": [asdict(r) for r in study.rows],
        },
    }
    return data


def _template(name: str) -> str:
    return resources.files("handprop.explain_page").joinpath(name).read_text(encoding="utf-8")


def build_page(data: dict[str, Any]) -> str:
    """The page's HTML with ``data`` (from ``page_data``), the style and the script inlined."""
    page, css, js = (_template(name) for name in PAGE_FILES)
    payload = json.dumps(data, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")  # no </script> inside
    title = str(data.get("title") or "handprop explain")
    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # one pass over the placeholders, so text in the data can never be read as a placeholder
    parts = {"{{TITLE}}": escaped, "{{CSS}}": css, "{{JS}}": js.replace("</script", "<\\/script"), "{{DATA}}": payload}
    out, rest = [], page
    while True:
        starts = [(rest.find(key), key) for key in parts if rest.find(key) >= 0]
        if not starts:
            out.append(rest)
            break
        at, key = min(starts)
        out.extend((rest[:at], parts[key]))
        rest = rest[at + len(key):]
    return "".join(out)


def write_page(
    path: Union[str, os.PathLike],
    net: Network,
    X_test: Array,
    y_test: Array,
    study: Optional[MiniBatchStudy],
    title: str = "",
    class_names: Optional[Sequence[str]] = None,
    digits: Optional[int] = None,
    start: int = 0,
) -> Path:
    """Write the page for ``net`` to ``path`` (atomically) and return the path.

    ``X_test`` (n, 784) holds images k/255, ``y_test`` (n,) their labels; the first ``digits`` of them
    (default: as many as fit in 2 MB, at most 1000) are embedded. ``study`` is the mini-batch study
    shown by the batch-size slider (``minibatch_study`` over the training set), or None. The page opens
    at test image ``start`` (a ``#index=N`` in its URL picks another).
    """
    html = build_page(page_data(net, X_test, y_test, study, title, class_names, digits, start))
    size = len(html.encode("utf-8"))
    if size > MAX_BYTES:
        raise PageError(f"the page would take {size:,} bytes, over its {MAX_BYTES:,}-byte limit; embed fewer digits")
    path = Path(path)
    if path.is_dir():
        raise PageError(f"{path} is a folder; give the page a file name such as explain.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(html)
    logger.info("wrote %s (%d bytes)", path, size)
    return path
