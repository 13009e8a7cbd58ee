"""Train, reload and inspect runs from Python: what ``handprop train`` calls, one function each.

    import handprop
    run = handprop.train(epochs=2, data_root="../shared/data")   # any TrainConfig field as a keyword
    run.network                     # the trained Network (for backend="torch", converted back)
    run.history["handprop"][-1]     # EpochMetrics(epoch, train_cost, test_cost, test_accuracy, train_seconds, lr, l2, batch_size)
    run.metrics()                   # the metrics.json dict
    fig = run.plot()                # a matplotlib Figure: nothing written, the backend untouched
    run = handprop.load_run("runs/video")   # a folder or checkpoint written by ``handprop train``
    x, labels = handprop.load_mnist("test", data_root="../shared/data")   # (n, 784) in [0, 1], (n,)

Costs in the history are means over the examples of the whole training or test set.
torch is imported only when a torch backend is asked for; matplotlib only when plotting.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import numpy as np

from .backends import backend_names, make_backends, prepare_in_background
from .network import Network
from .outputs import OutputError, locked_folder, same_file
from .runstate import CHECKPOINT_NAME, METRICS_NAME, RunState, checkpoint_path, save_run, load_run as load_state
from .training import (
    Dataset,
    EpochMetrics,
    LockstepError,
    Trainer,
    TrainConfig,
    TrainingDiverged,
    parse_arch,
    run_metrics,
)

if TYPE_CHECKING:  # matplotlib is imported only when plotting
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))
# what a resumed run may change (each epoch's metrics record the lr, l2 and batch_size it used); the
# rest — architecture, initialisation, seed, dtype, dataset — is the run's identity and stays
RESUME_CHANGEABLE = ("epochs", "lr", "l2", "batch_size")
RESUME_FIXED = tuple(name for name in CONFIG_FIELDS if name not in RESUME_CHANGEABLE)


# what a run writes into its folder: another run's (or the user's) files of these names are not replaced without force
RUN_FILES = (CHECKPOINT_NAME, METRICS_NAME, "curves.png", "first_layer.png")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``train``: what was saved, for the caller to report. A KeyboardInterrupt still.

    ``run`` holds the epochs that finished; ``checkpoint`` the file holding the last of them
    (``saved_epoch``), or None when nothing was saved (no ``out``, or no epoch finished).
    """

    def __init__(self, run: "Run", checkpoint: Optional[Path], saved_epoch: int) -> None:
        saved = (
            f"{checkpoint} holds epoch {saved_epoch}; continue with handprop.train(resume={str(checkpoint)!r})"
            if checkpoint is not None else "nothing was saved"
        )
        super().__init__(f"training interrupted during epoch {run.epoch + 1}; {saved}")
        self.run, self.checkpoint, self.saved_epoch = run, checkpoint, saved_epoch


@dataclass
class Run:
    """A training run: its settings, each backend's parameters and per-epoch metrics.

    ``history[name]`` lists one ``EpochMetrics`` per epoch for each backend that trained
    (``"handprop"``, ``"torch"``); ``lockstep`` the per-epoch largest parameter difference of a
    ``backend="both"`` run. ``start_epoch`` is the number of epochs done before this call (non-zero
    when resumed), ``epoch`` the number done now.
    """

    config: TrainConfig
    backend: str  # handprop | torch | both
    parameters: dict[str, tuple[list[np.ndarray], list[np.ndarray]]]  # per backend: weights (out, in), biases (out,)
    history: dict[str, list[EpochMetrics]]
    lockstep: list[dict[str, float]] = field(default_factory=list)
    out: Optional[Path] = None
    start_epoch: int = 0

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return max((len(h) for h in self.history.values()), default=0)

    @property
    def networks(self) -> dict[str, Network]:
        """Each backend's network as a handprop ``Network`` (torch's converted back)."""
        c = self.config
        return {
            name: Network.from_parameters(w, b, c.hidden_per_layer, c.output, c.cost, c.dtype)
            for name, (w, b) in self.parameters.items()
        }

    @property
    def network(self) -> Network:
        """The trained network: handprop's when it trained, else the torch backend's, converted back."""
        name = "handprop" if "handprop" in self.parameters else next(iter(self.parameters))
        return self.networks[name]

    def metrics(self) -> dict[str, Any]:
        """The content of metrics.json (schema in docs/training.md)."""
        return run_metrics(self.config, self.backend, self.history, self.lockstep)

    def _epochs(self, backend: Optional[str]) -> list[EpochMetrics]:
        name = backend or ("handprop" if "handprop" in self.history else next(iter(self.history), ""))
        if name not in self.history:
            raise ValueError(f"backend {name!r} did not train in this run (it has: {', '.join(self.history) or 'none'})")
        if not self.history[name]:
            raise ValueError(f"no epoch of this run has finished yet (0 of {self.config.epochs}), so it has no final or best epoch")
        return self.history[name]

    def final(self, backend: Optional[str] = None) -> EpochMetrics:
        """The last epoch's metrics of ``backend`` (default: the backend ``network`` comes from)."""
        return self._epochs(backend)[-1]

    def best(self, backend: Optional[str] = None) -> EpochMetrics:
        """The epoch with the highest test accuracy (the earliest of equals)."""
        return max(self._epochs(backend), key=lambda m: m.test_accuracy)

    def plot(self, path: Optional[PathLike] = None) -> "Figure":
        """Cost and test accuracy per epoch, one line per backend; writes a PNG only when given ``path``."""
        from .plots import plot_curves

        return plot_curves(self.history, path, cost=self.config.cost, title=self._title())

    def plot_first_layer(self, path: Optional[PathLike] = None) -> "Figure":
        """Each first-layer unit's weights as an image (square inputs only); writes only when given ``path``."""
        from .plots import plot_first_layer

        return plot_first_layer(self.network.weights[0], path, title=self._title())

    def _title(self) -> str:
        """The run in a few words for figures: its folder (when saved), network, backend and epochs."""
        c = self.config
        where = f"{self.out}: " if self.out is not None else ""
        return f"{where}{'-'.join(map(str, c.arch))} {c.dtype}, {self.backend}, {self.epoch} epoch{'s' if self.epoch != 1 else ''}, seed {c.seed}"

    def __repr__(self) -> str:
        arch = "-".join(map(str, self.config.arch))
        accuracy = ", ".join(f"{n} {100 * h[-1].test_accuracy:.2f}%" for n, h in self.history.items() if h)
        return f"Run({arch}, backend={self.backend}, epochs {self.epoch}/{self.config.epochs}, test accuracy {accuracy or '-'})"


def load_mnist(
    split: str = "train", data_root: Optional[PathLike] = None, dataset: str = "mnist", dtype: str = "float64"
) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, 784) with pixels in [0, 1], labels (n,) int64) of one split of MNIST or Fashion-MNIST.

    ``data_root`` is the folder holding ``MNIST/raw`` (default: ``$HANDPROP_DATA``, else ``~/.local/share/handprop``);
    missing files are downloaded when a network is reachable, else a FileNotFoundError names them.
    """
    from . import data

    return data.load_dataset(dataset, split, data_root, download=True, dtype=dtype)


def load_run(path: PathLike) -> Run:
    """The run saved by ``handprop train --out DIR`` (or ``train(out=DIR)``): ``DIR`` or its checkpoint.npz."""
    return _run_from_state(load_state(path), checkpoint_path(path).parent)


def _run_from_state(state: RunState, out: Optional[Path]) -> Run:
    return Run(
        config=state.config, backend=state.backend, parameters=state.parameters, history=state.history,
        lockstep=state.lockstep, out=out, start_epoch=state.epoch,
    )


def resolve_config(config: Optional[TrainConfig] = None, **settings: Any) -> TrainConfig:
    """``config`` (default: ``TrainConfig()``) with ``settings`` applied.

    ``arch`` may be '784-16-16-10' or a sequence of widths; ``hidden`` a name, names joined by commas,
    or a sequence of names. Unknown names raise a TypeError listing the known ones.
    """
    unknown = sorted(set(settings) - set(CONFIG_FIELDS))
    if unknown:
        raise TypeError(f"unknown training setting(s) {', '.join(unknown)}; expected any of: {', '.join(CONFIG_FIELDS)}")
    changes = dict(settings)
    if "arch" in changes:
        arch = changes["arch"]
        changes["arch"] = parse_arch(arch) if isinstance(arch, str) else tuple(arch)
    if "hidden" in changes:
        hidden = changes["hidden"]
        changes["hidden"] = tuple(p.strip() for p in hidden.split(",")) if isinstance(hidden, str) else tuple(hidden)
    base = config if config is not None else TrainConfig()
    if not isinstance(base, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(base).__name__}")
    return dataclasses.replace(base, **changes) if changes else base


def train(
    config: Optional[TrainConfig] = None,
    *,
    backend: Optional[str] = None,
    device: str = "cpu",
    engine: str = "compiled",
    threads: Optional[int] = None,
    data_root: Optional[PathLike] = None,
    out: Optional[PathLike] = None,
    resume: Optional[PathLike] = None,
    progress: Optional[bool] = None,
    on_start: Optional[Callable[[Run], None]] = None,
    on_epoch: Optional[Callable[[Run], None]] = None,
    force: bool = False,
    on_wait: Optional[Callable[[str], None]] = None,
    **settings: Any,
) -> Run:
    """Mini-batch SGD on MNIST (or Fashion-MNIST) with either backend, or both in lockstep.

    ``settings`` are ``TrainConfig`` fields (arch, hidden, output, cost, init, epochs, batch_size, lr,
    l2, seed, dtype, dataset); the defaults train the video's 784-16-16-10 network.
    ``backend``: "handprop" (default), "torch" or "both"; ``device`` is the torch backend's.
    ``engine``: how the handprop backend runs its steps, "compiled" (Numba, the default; the NumPy
    steps run when Numba is unavailable) or "numpy" (the reference engine's own steps).
    ``threads``: torch's CPU threads (default: one for small networks, see ``backends.SMALL_NETWORK``).
    Neither changes the results beyond round-off, so a resumed run may change them.
    ``out``: a folder that receives metrics.json and checkpoint.npz after every epoch, and curves.png
    and first_layer.png at the end (nothing is written without it).
    ``resume``: a checkpoint or folder written by a previous run; training continues exactly where it
    stopped, up to ``epochs`` in total, writing to that folder unless ``out`` is given. ``lr``, ``l2``
    and ``batch_size`` may change too (each epoch's metrics record the values it used); any other
    setting given must equal the checkpoint's.
    ``progress``: the per-batch progress bar (None: only on a terminal).
    ``force``: let a new run replace the run already in ``out`` (or a resumed run write into a folder
    holding another run); without it that is refused before any work, since it would lose the old run.
    ``out`` is locked while the run writes it: a second run into the same folder is refused.
    ``on_start(run)`` is called once the data are loaded, ``on_epoch(run)`` after every epoch, and
    ``on_wait(sentence)`` before a wait longer than a second, saying what for (the first run on a
    machine compiling the training kernels, which happens while the data load).
    Everything cheap is checked before the data are loaded: the settings, the device, and that
    ``out`` can be written.

    Raises ``TrainingDiverged`` when the cost becomes NaN or infinite and ``LockstepError`` when the
    backends of a "both" run disagree; the folder then holds the last complete epoch (and its plots).
    On Ctrl-C it writes the plots of the saved epochs and raises ``TrainingInterrupted`` (a
    KeyboardInterrupt) saying which checkpoint holds which epoch.
    """
    if out is not None and not os.fspath(out):
        raise ValueError("out (--out) must name a folder for metrics.json, checkpoint.npz and the plots; got an empty name")
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None (only on a terminal), got {progress!r}")
    if not isinstance(force, bool):
        raise TypeError(f"force must be True or False, got {force!r}")
    state: Optional[RunState] = None
    state_path: Optional[Path] = None
    if resume is not None:
        resume_path = checkpoint_path(resume)
        state = load_state(resume_path)
        state_path = resume_path
        config = resolve_config(config if config is not None else state.config, **settings)
        changed = [n for n in RESUME_FIXED if getattr(config, n) != getattr(state.config, n)]
        if changed:
            given = ", ".join(f"{n}={getattr(config, n)!r}" for n in changed)
            kept = ", ".join(f"{n}={getattr(state.config, n)!r}" for n in changed)
            raise ValueError(
                f"{given} {'differs' if len(changed) == 1 else 'differ'} from the checkpoint's {kept}; a resumed run "
                f"keeps its settings except {', '.join(RESUME_CHANGEABLE[:-1])} and {RESUME_CHANGEABLE[-1]} "
                f"(--epochs, --lr, --l2, --batch-size)"
            )
        backend = backend or state.backend
        if backend != state.backend:
            raise ValueError(f"the checkpoint was trained with backend {state.backend!r}; resume it with the same backend")
        out_path = Path(out) if out is not None else resume_path.parent  # a resumed run writes to its own folder
        if config.epochs <= state.epoch:
            logger.info("%s already has %d epochs (epochs=%d); nothing to train", resume_path, state.epoch, config.epochs)
            run = _run_from_state(state, out_path)
            run.config = config
            return run
    else:
        config = resolve_config(config, **settings)
        backend = backend or "handprop"
        out_path = Path(out) if out is not None else None
    names = backend_names(backend)
    if device != "cpu" and "torch" not in names:
        raise ValueError(f"device {device!r} is for the torch backend; the handprop backend runs on the CPU only")
    if "torch" in names:
        check_device(device)
    from . import data as data_module  # looked up at call time, so tests can substitute the loader

    pixels = data_module.IMAGE_SIDE * data_module.IMAGE_SIDE
    if config.arch[0] != pixels or config.arch[-1] != data_module.N_CLASSES:  # before loading anything
        raise ValueError(
            f"arch {'-'.join(map(str, config.arch))} does not fit {config.dataset}: the first width must be "
            f"{pixels} (pixels) and the last {data_module.N_CLASSES} (classes)"
        )
    body = (config, backend, names, state, state_path, device, engine, threads, data_root, progress, on_start, on_epoch, on_wait)
    if out_path is None:
        return _train(*body, None)
    from .atomic import check_writable

    check_writable(out_path)  # in words, naming the user's path, before the lock makes the folder
    with locked_folder(out_path):  # before looking inside: a second run into this folder is refused
        _check_run_folder(out_path, state, state_path, force)
        return _train(*body, out_path)


def _check_run_folder(out: Path, state: Optional[RunState], resume: Optional[Path], force: bool) -> None:
    """A run folder may receive this run's files unless it holds another run (or files of the same
    names that are not a run's) and ``force`` was not given."""
    if resume is not None and same_file(out / CHECKPOINT_NAME, resume):
        return  # a resumed run continues in its own folder, over its own checkpoint
    present = [name for name in RUN_FILES if (out / name).exists()]
    if not present or force:
        return
    flag = "--force (force=True)"
    if (out / CHECKPOINT_NAME).is_file():
        if state is None:
            raise OutputError(
                f"{out} already holds a run ({CHECKPOINT_NAME}); continue it with --resume {out} "
                f"(handprop.train(resume=...)), choose another --out, or pass {flag} to replace it"
            )
        raise OutputError(
            f"{out} holds another run ({CHECKPOINT_NAME}); resuming {resume} there would replace it: choose another --out, "
            f"or pass {flag} to replace it"
        )
    raise OutputError(f"{out} already holds {', '.join(present)}; choose another --out, or pass {flag} to replace them")


def _train(
    config: TrainConfig, backend: str, names: list[str], state: Optional[RunState], state_path: Optional[Path],
    device: str, engine: str, threads: Optional[int], data_root: Optional[PathLike], progress: Optional[bool],
    on_start: Optional[Callable[[Run], None]], on_epoch: Optional[Callable[[Run], None]],
    on_wait: Optional[Callable[[str], None]], out_path: Optional[Path],
) -> Run:
    """The body of ``train``, once the settings are checked and the run folder is locked."""
    from . import data as data_module

    # downhill: each backend's starting network, the backends (a first compile starts in the background
    # while the data load), the data, the trainer, then the run folder
    if state is None:
        initial = config.build_network()
        networks = {name: initial for name in names}  # each backend copies it
        shuffle_rng, done = config.generators()[1], {}
    else:
        networks = state.networks()
        shuffle_rng, done = state.shuffle_rng, {"start_epoch": state.epoch, "history": state.history, "lockstep": state.lockstep}
    backends = make_backends(networks, config, device, engine, threads)
    preparing = prepare_in_background(backends, on_wait)

    x_train, y_train = data_module.load_dataset(config.dataset, "train", data_root, download=True, dtype=config.dtype)
    x_test, y_test = data_module.load_dataset(config.dataset, "test", data_root, download=True, dtype=config.dtype)
    trainer = Trainer(config, backends, Dataset(x_train, y_train, x_test, y_test), shuffle_rng, progress=progress, **done)
    if preparing is not None:
        preparing.join()  # so that the first epoch's time is the training's alone
    start_epoch = trainer.start_epoch

    def snapshot() -> Run:
        return Run(
            config=config, backend=backend, parameters={n: b.parameters() for n, b in trainer.backends.items()},
            history={n: list(h) for n, h in trainer.history.items()}, lockstep=list(trainer.lockstep),
            out=out_path, start_epoch=start_epoch,
        )

    if on_start is not None:
        on_start(snapshot())

    # the newest checkpoint on disk and its epoch: updated once a save has completed (atomic writes)
    saved: dict[str, Any] = {"epoch": start_epoch, "path": state_path if state is not None else None}

    def after_epoch(epoch: int, t: Trainer) -> None:
        if out_path is not None:
            saved["path"], saved["epoch"] = save_run(out_path, t, backend), epoch
        if on_epoch is not None:
            on_epoch(snapshot())

    try:
        trainer.run(after_epoch)
    except (TrainingDiverged, LockstepError):
        _write_plots(snapshot())
        raise
    except KeyboardInterrupt:  # Ctrl-C: plot the saved epochs, and tell the caller what is on disk
        if saved["path"] is not None and out_path is not None:
            _write_plots(_run_from_state(load_state(saved["path"]), out_path))
        raise TrainingInterrupted(snapshot(), saved["path"], saved["epoch"] if saved["path"] else 0) from None
    run = snapshot()
    _write_plots(run)
    return run


def check_device(device: str) -> None:
    """Refuse, in words and before anything slow, a torch device this machine does not have.

    Without an NVIDIA driver (no /proc/driver/nvidia/version) a CUDA device is refused at once, with
    no torch import (2 s); with one, torch is asked (the torch backend imports it anyway).
    """
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; expected cpu or cuda")
    if device == "cpu":
        return
    if not os.path.exists("/proc/driver/nvidia/version") and not os.path.exists("/dev/nvidia0"):
        raise ValueError(
            f"--device {device} asked for, but this machine has no NVIDIA driver (no /proc/driver/nvidia/version), "
            f"so no CUDA GPU; use --device cpu"
        )
    from verify.backend import resolve_device  # imports torch

    resolve_device(device)


def _write_plots(run: Run) -> None:
    """curves.png and (for square inputs) first_layer.png in the run's folder, once an epoch is done."""
    if run.out is None or run.epoch == 0:
        return
    run.plot(run.out / "curves.png")
    if math.isqrt(run.config.arch[0]) ** 2 == run.config.arch[0]:
        run.plot_first_layer(run.out / "first_layer.png")
    logger.info("wrote plots to %s", run.out)
