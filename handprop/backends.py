"""Which backends there are, chosen by name: the one place that knows every ``Backend`` by name.

    make_backend("handprop", net, config)                    # compiled steps (NumPy where Numba is missing)
    make_backend("handprop", net, config, engine="numpy")    # the reference engine's own steps
    make_backend("torch", net, config, device="cuda")        # the PyTorch twin

The backends themselves live in their own modules (``handprop.numpy_backend``,
``handprop.compiled``, ``verify.backend``) and know nothing of one another or of this registry;
the compiled engine (Numba) and the torch twin are imported here only when asked for, so
``import handprop`` imports neither.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional

from .backend import Backend
from .network import Network
from .numpy_backend import HandpropBackend

logger = logging.getLogger(__name__)

BACKENDS = ("handprop", "torch", "both")
ENGINES = ("compiled", "numpy")

# Networks up to this many parameters train with one torch thread unless told otherwise: their
# products are too small to split, and on a machine whose cores are busy a second thread that
# spin-waits made an epoch of the video's network up to 20× slower (docs/training.md).
SMALL_NETWORK = 200_000

_compiled_unavailable_logged = False


def backend_names(backend: str) -> list[str]:
    """The backends a run's ``backend`` setting trains: 'both' is handprop and torch in lockstep."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of: {', '.join(BACKENDS)}")
    return ["handprop", "torch"] if backend == "both" else [backend]


def make_backend(
    name: str, net: Network, config: Any, device: str = "cpu", engine: str = "compiled",
    threads: Optional[int] = None,
) -> Backend:
    """A fresh backend holding a copy of ``net``'s parameters. torch is imported only for 'torch'.

    ``config`` gives the step's settings ``lr`` and ``l2`` (a ``TrainConfig``). ``engine`` (compiled
    or numpy) chooses how the handprop backend runs its steps; the compiled steps always run on one
    thread. ``threads`` sets torch's CPU threads (process-wide); None means one thread for networks
    of at most ``SMALL_NETWORK`` parameters and torch's default above.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    if name == "handprop":
        if device != "cpu":
            raise ValueError(f"the handprop backend runs on the CPU only; --device {device} is for the torch backend")
        return handprop_backend(net.copy(), config.lr, config.l2, engine)
    if name == "torch":
        import torch

        from verify.backend import TorchBackend  # lazy: importing handprop never imports torch

        parameters = sum(W.size + b.size for W, b in zip(net.weights, net.biases))
        if threads is None and parameters <= SMALL_NETWORK:
            threads = 1
        if threads is not None:
            torch.set_num_threads(threads)
        logger.info("torch backend: %d CPU thread(s) for %d parameters", torch.get_num_threads(), parameters)
        return TorchBackend(net, config.lr, config.l2, device=device)  # copies net's parameters into the twin
    raise ValueError(f"unknown backend {name!r}; expected one of: {', '.join(BACKENDS)}")


def make_backends(
    networks: dict[str, Network], config: Any, device: str = "cpu", engine: str = "compiled",
    threads: Optional[int] = None,
) -> dict[str, Backend]:
    """One backend per name of ``networks``, each starting from (a copy of) its network.

    ``device`` is the torch backend's (the handprop backend runs on the CPU); the rest as ``make_backend``.
    """
    return {
        name: make_backend(name, net, config, device if name == "torch" else "cpu", engine, threads)
        for name, net in networks.items()
    }


def prepare_in_background(
    backends: dict[str, Backend], on_wait: Optional[Callable[[str], None]] = None
) -> Optional[threading.Thread]:
    """Start what the backends must do before training that takes a while (``Backend.prepare``: the
    compiled engine's first compile on a machine) in a thread, so that it overlaps loading the data;
    say first what for, in the log and through ``on_wait``. Returns the thread to join before the
    first step, or None when nothing waits."""
    jobs = [job for job in (b.prepare() for b in backends.values()) if job is not None]
    if not jobs:
        return None
    for sentence, _ in jobs:
        logger.info(sentence)
        if on_wait is not None:
            on_wait(sentence)

    def work() -> None:
        for _, job in jobs:
            job()

    thread = threading.Thread(target=work, name="handprop-prepare", daemon=True)
    thread.start()
    return thread


def handprop_backend(net: Network, lr: float, l2: float = 0.0, engine: str = "compiled") -> Backend:
    """The handprop backend on ``net`` itself (not a copy), its steps run by ``engine``.

    ``compiled`` runs the steps in Numba (``handprop.compiled``, imported here, on first use); where
    Numba cannot be imported the NumPy steps run instead, with one log line saying so. ``numpy``
    runs the reference engine's ``cost_and_backprop_prepared`` for every step.
    """
    global _compiled_unavailable_logged
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of: {', '.join(ENGINES)}")
    if engine == "compiled":
        try:
            from .compiled import CompiledBackend
        except ImportError as error:  # Numba missing or broken: the reference steps still train
            if not _compiled_unavailable_logged:
                logger.warning("the compiled engine is unavailable (%s); training with the NumPy engine", error)
                _compiled_unavailable_logged = True
        else:
            return CompiledBackend(net, lr, l2)
    return HandpropBackend(net, lr, l2)
