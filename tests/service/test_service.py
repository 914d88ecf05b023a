"""The service under a real systemd: a debootstrap'd Debian 12 booted with systemd-nspawn.

Inside, tests/nspawn/inside has a new user follow the README's "As a service" steps,
cut from the README as they are written (so the README cannot drift from what works),
then checks sorting with sidecars and stray files, facewatchctl as a group member, a
subfolder the user made, journal fields, a bad configuration that is not restarted
forever, reload, a restart by the watchdog and stop. The root filesystem is built once,
outside the checkout (tests/nspawn/rootfs); each run boots it with a throwaway overlay.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..helpers import ROOT, need

CACHE = Path(os.environ.get("FACEWATCHD_NSPAWN_CACHE", "/var/cache/facewatchd-test"))
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CHECKS = ["readme-steps-1", "readme-steps-2", "sorted", "sidecars-followed", "stray-file-stays",
          "ctl-status", "own-subfolder-sorted", "owner-may-manage", "journal-fields",
          "bad-config-not-restarted", "bad-config-said", "start", "active", "reload",
          "reloaded-logged", "bad-reload-refused", "watchdog-restart", "active-again", "new-pid",
          "watchdog-logged", "stop", "stopped-cleanly"]


def readme_steps() -> list[str]:
    """The shell blocks of the README's service section, as a person would type them."""
    text = (ROOT / "README.md").read_text()
    blocks = []
    for n in (1, 2):
        after = text.split(f"<!-- service steps {n}")[1]
        blocks.append(after.split("```sh\n", 1)[1].split("```", 1)[0])
    return blocks


def test_start_reload_watchdog_and_stop_under_systemd(data: Path, tmp_path: Path) -> None:
    need(os.geteuid() == 0, "booting a container needs root")
    need(shutil.which("systemd-nspawn") and shutil.which("debootstrap"),
         "systemd-nspawn or debootstrap is missing (Debian packages systemd-container, debootstrap)")
    built = subprocess.run([ROOT / "tests" / "nspawn" / "rootfs"], capture_output=True, text=True,
                           timeout=1800, env={**os.environ, "FACEWATCHD_NSPAWN_CACHE": str(CACHE)})
    assert built.returncode == 0, built.stderr[-3000:]
    out = tmp_path / "out"
    out.mkdir()
    for n, block in enumerate(readme_steps(), 1):
        (out / f"steps{n}.sh").write_text(block)
    out.chmod(0o755)  # the user in the container reads the steps there
    pip_cache = Path.home() / ".cache" / "pip"
    pip_cache.mkdir(parents=True, exist_ok=True)
    # The dlib wheel scripts/bootstrap compiled for this CPU: pip in the container asks
    # another index, which would miss it in the cache and compile again (~11 minutes).
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    cached = subprocess.run([sys.executable, "-m", "pip", "cache", "list", "dlib", "--format=abspath"],
                            capture_output=True, text=True).stdout.split()
    for wheel in cached:
        shutil.copy2(wheel, wheels)
    boot = subprocess.run(
        ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--volatile=overlay",
         f"--directory={CACHE / 'rootfs'}", f"--bind-ro={ROOT}:/src", f"--bind-ro={data}:/photos",
         f"--bind={pip_cache}:/root/.cache/pip", f"--bind-ro={wheels}:/wheels", f"--bind={out}:/out",
         # The host's CA bundle: the network may sit behind a proxy only the host trusts.
         f"--bind-ro={CA_BUNDLE}:/etc/ssl/certs/ca-certificates.crt",
         f"--bind-ro={ROOT / 'tests' / 'nspawn' / 'fwtest.service'}:/etc/systemd/system/fwtest.service",
         "--boot", "systemd.wants=fwtest.service"],
        capture_output=True, text=True, timeout=1800)
    log = (out / "log").read_text() if (out / "log").exists() else boot.stdout[-5000:]
    results = (out / "result").read_text().split("\n") if (out / "result").exists() else []
    assert "DONE" in results, log[-5000:]
    assert [r for r in results if r.startswith(("PASS", "FAIL"))] == [f"PASS {c}" for c in CHECKS], log[-5000:]
