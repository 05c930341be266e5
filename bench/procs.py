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
    cpu: int
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
        assert self.proc
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime

    def peak_rss_mb(self) -> float:
        assert self.proc
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

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
