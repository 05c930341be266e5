"""Server processes pinned to one core, with their CPU time and peak memory read from /proc."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    cpu: int | str  # a core, or a list of them ("0,1")
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, health: str = "/healthz", timeout: float = 60) -> Served:
        log = (self.cwd / f"{self.name}.log").open("wb")
        argv = [
            "taskset",
            "-c",
            str(self.cpu),
            *[a.replace("{port}", str(self.port)) for a in self.argv],
        ]
        self.proc = subprocess.Popen(argv, env=self.env, cwd=self.cwd, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited: {(self.cwd / f'{self.name}.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{health}", timeout=1):
                    return self
            except urllib.error.HTTPError:
                return self  # it answers: good enough for servers without a health route
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def cpu_seconds(self) -> float:
        """CPU time of the server and its worker processes (utime + stime)."""
        total = 0.0
        for pid in self._tree():
            stat = Path(f"/proc/{pid}/stat")
            if stat.exists():
                fields = stat.read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / TICKS
        return total

    def peak_rss_mb(self) -> float:
        """The peak resident memory of the largest process of the server."""
        peak = 0.0
        for pid in self._tree():
            status = Path(f"/proc/{pid}/status")
            if not status.exists():
                continue
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        return peak

    def _tree(self) -> list[int]:
        """The server's process and its descendants (uvicorn's and granian's workers)."""
        assert self.proc
        found, queue = [], [self.proc.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            for children in Path(f"/proc/{pid}/task").glob("*/children"):
                queue += [int(c) for c in children.read_text().split()]
        return found

    def log_text(self) -> str:
        return (self.cwd / f"{self.name}.log").read_text()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def python() -> str:
    return sys.executable
