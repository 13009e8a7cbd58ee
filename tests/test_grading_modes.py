"""The sandbox's layer selection: which isolation each mode asks for, before anything runs.

What the child then reports (``no-network`` once it sees only a loopback) is tested end to end in
test_grading_sandbox.py, in every mode this machine offers; here, what each launch asks for.
"""

from __future__ import annotations

import os

import pytest

from handprop.grading.config import NOBODY_UID
from handprop.grading.sandbox import SandboxError, modes

IS_ROOT = os.geteuid() == 0


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    """resolve() logs each warning once per process: leave the process's record as it was."""
    monkeypatch.setattr(modes, "_warned", set())


@pytest.mark.skipif(not IS_ROOT, reason="the uid mode needs the grader to run as root")
def test_the_uid_mode_leaves_the_network_and_switches_user():
    launch = modes.resolve("uid", NOBODY_UID, NOBODY_UID)
    assert launch.mode == "uid" and launch.unshare_net is True
    assert (launch.uid, launch.gid) == (NOBODY_UID, NOBODY_UID) and "uid" in launch.layers


def test_no_isolation_asks_for_nothing():
    launch = modes.resolve("none", None, None)
    assert launch.mode == "none" and launch.unshare_net is False and launch.layers == [] and launch.uid is None


@pytest.mark.skipif(not modes.bwrap_works(IS_ROOT)[0], reason="bwrap cannot create namespaces here")
def test_bwrap_leaves_the_network_by_its_own_flag():
    launch = modes.resolve("bwrap", None, None)
    assert "--unshare-net" in launch.prefix and "--share-net" not in launch.prefix
    assert "no-network" in launch.layers


@pytest.mark.skipif(IS_ROOT, reason="as root the uid mode is available")
def test_the_uid_mode_without_root_is_an_error():
    with pytest.raises(SandboxError, match="needs the grader to run as root"):
        modes.resolve("uid", None, None)


def test_an_unknown_mode_is_a_value_error():
    with pytest.raises(ValueError, match="sandbox mode must be one of"):
        modes.resolve("docker", None, None)
