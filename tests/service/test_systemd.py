"""The unit files, checked by systemd's own analyzers."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ..helpers import ROOT, need

UNITS = ("facewatchd.service", "facewatchd.socket", "facewatchd-web.service")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An installed system in miniature: systemd's own units, ours, and the binary."""
    need(shutil.which("systemd-analyze") is not None, "systemd-analyze is missing (Debian package systemd)")
    (tmp_path / "usr" / "lib" / "systemd").mkdir(parents=True)
    shutil.copytree("/lib/systemd/system", tmp_path / "usr" / "lib" / "systemd" / "system", symlinks=True)
    units = tmp_path / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(ROOT / "systemd" / unit, units)
    for binary in ("usr/local/bin/facewatchd", "usr/local/bin/facewatchctl"):
        (tmp_path / binary).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / binary).write_text("#!/bin/sh\n")
        (tmp_path / binary).chmod(0o755)
    return tmp_path


def verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", "--man=no", *UNITS],
                          capture_output=True, text=True, timeout=60)


def test_the_units_pass_verify_without_a_word(root: Path) -> None:
    result = verify(root)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_verify_would_notice_a_mistake(root: Path) -> None:
    service = root / "etc" / "systemd" / "system" / "facewatchd.service"
    service.write_text(service.read_text().replace("[Service]", "[Service]\nWatchdogSecs=1"))
    result = verify(root)
    assert "WatchdogSecs" in result.stdout + result.stderr


def exposure(unit: str, root: Path | None = None) -> tuple[float, str]:
    """`systemd-analyze security`'s overall exposure of one of our units (installed under
    `root`, with its drop-ins, or as shipped), and its report."""
    need(shutil.which("systemd-analyze") is not None, "systemd-analyze is missing (Debian package systemd)")
    where = [f"--root={root}", unit] if root else [str(ROOT / "systemd" / unit)]
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", *where],
                            capture_output=True, text=True, timeout=60)
    found = re.search(rf"Overall exposure level for {re.escape(unit)}: ([\d.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found[1]), result.stdout


def test_the_service_is_hardened_to_2_or_better() -> None:
    score, report = exposure("facewatchd.service")
    assert score <= 2.0, report


def test_the_review_page_service_is_hardened_to_1_5_or_better() -> None:
    """A web server keeps its network (loopback, one port to bind), so it cannot reach
    the daemon's score; everything else is shut."""
    score, report = exposure("facewatchd-web.service")
    assert score <= 1.5, report


def test_the_cluster_drop_in_passes_verify_and_opens_only_tcp_to_the_scheduler(root: Path) -> None:
    """systemd/facewatchd-cluster.conf, installed the way its header says."""
    drop_ins = root / "etc" / "systemd" / "system" / "facewatchd.service.d"
    drop_ins.mkdir()
    shutil.copy(ROOT / "systemd" / "facewatchd-cluster.conf", drop_ins / "cluster.conf")
    result = verify(root)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    text = (ROOT / "systemd" / "facewatchd-cluster.conf").read_text()
    settings = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert settings == ["[Service]", "PrivateNetwork=no", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                        "IPAddressAllow=192.0.2.10"]  # IPAddressDeny=any stays, from the unit
    score, report = exposure("facewatchd.service", root)
    assert score <= 2.0, report  # here 1.5, against 0.7 without it

