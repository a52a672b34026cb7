"""A real Ray cluster on loopback for the tests: `ray start --head --block` with 2 CPUs and a capped
object store, in a session of its own, stopped by killing that session (never `ray stop`, which
stops every Ray on the machine)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from .loopback import free_port
from .waiting import wait_until

RAY = Path(sys.executable).with_name("ray")


def ray_environment() -> dict[str, str]:
    """The environment for the cluster and its clients: no usage report, no token (a token-auth
    cluster needs RAY_AUTH_MODE=token on every client; that is Ray's business, not the tests')."""
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


class RayCluster:
    """A one-node cluster at 127.0.0.1:`port`. `workers(prefix)` lists its processes by title."""

    def __init__(self, cpus: int = 2, object_store_bytes: int = 100_000_000) -> None:
        if not RAY.exists():
            pytest.fail(f"needs the ray extra ({RAY} not found): pip install '.[ray]' (make test installs it)")
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths are long
        self.log = self.folder / "start.log"
        command = [
            str(RAY), "start", "--head", "--block",
            f"--port={self.port}",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={cpus}",
            f"--object-store-memory={object_store_bytes}",
            "--include-dashboard=false",
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--temp-dir={self.folder}",
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=ray_environment(), start_new_session=True
            )
        started = wait_until(lambda: b"Ray runtime started" in self.log.read_bytes() or self.process.poll() is not None, 90)
        if not started or self.process.poll() is not None:
            self.stop()
            pytest.fail(f"ray start did not come up:\n{self.log.read_text(errors='replace')[-3000:]}")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def processes(self, title_prefix: bytes = b"") -> list[int]:
        """This cluster's processes (those of its session) whose title starts with `title_prefix`."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.getsid(int(entry)) != self.process.pid:
                    continue
                if Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
                    continue  # gone, waiting to be reaped (a container's first process may never)
                title = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(title_prefix):
                found.append(int(entry))
        return found

    def stop(self) -> None:
        """SIGTERM to every process of the cluster's session at once, then SIGKILL to what is left
        after a few seconds (`ray start` alone, stopping its children one by one, takes half a minute)."""
        for sig, patience in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
            for pid in self.processes():
                with contextlib.suppress(OSError):  # gone already
                    os.kill(pid, sig)
            deadline = time.monotonic() + patience
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
