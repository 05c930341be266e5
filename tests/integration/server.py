"""A real ``keyhouse serve`` process on a free loopback port, and the CLI beside it."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(database_url: str, key_file: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYHOUSE_")}
    env.update(
        KEYHOUSE_DATABASE_URL=database_url,
        KEYHOUSE_MASTER_KEY_FILE=str(key_file),
        NO_PROXY="*",
        no_proxy="*",
        # The tests send thousands of deliberately bad signatures from 127.0.0.1; the
        # throttle is tested with its default on servers of its own (test_faults.py).
        KEYHOUSE_AUTH_FAILURES_PER_MINUTE="0",
    )
    env.update(extra)
    return env


@dataclass
class Server:
    database_url: str
    key_file: Path
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()
    # The CA that signed the server's certificate, when it serves HTTPS (--certfile).
    ca: Path | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def stdout_path(self) -> Path:
        return self.workdir / f"serve-{self.port}.out"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / f"serve-{self.port}.err"

    def env(self) -> dict[str, str]:
        return base_env(self.database_url, self.key_file, **self.extra_env)

    def start(self, timeout: float = 30.0) -> Server:
        self.port = free_port()
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "keyhouse",
                    "serve",
                    "--port",
                    str(self.port),
                    *self.extra_args,
                ],
                cwd=self.workdir,
                env=self.env(),
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"keyhouse serve exited: {self.stderr_path.read_text()}")
            try:
                scheme, context = "http", None
                if self.ca is not None:
                    scheme, context = "https", ssl.create_default_context(cafile=str(self.ca))
                url = f"{scheme}://{self.endpoint}/healthz"
                with urllib.request.urlopen(url, timeout=1, context=context) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"keyhouse serve did not become healthy: {self.stderr_path.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Die at once, as a crashed host would: no shutdown, no lease release."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def logs(self) -> str:
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def bootstrap_credentials(self) -> tuple[str, str]:
        text = self.stdout_path.read_text()
        ak = re.search(r"AccessKeyId:\s+(\S+)", text)
        sk = re.search(r"AccessKeySecret:\s+(\S+)", text)
        assert ak and sk, text
        return ak.group(1), sk.group(1)

    def cli(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the real ``keyhouse`` command against this server's store."""
        result = subprocess.run(
            [sys.executable, "-m", "keyhouse", *args],
            cwd=self.workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            input=input,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"keyhouse {' '.join(args)} failed: {result.stderr}")
        return result

    def create_account(self, name: str) -> dict[str, Any]:
        out = self.cli("account", "create", "--name", name, "--json").stdout
        return json.loads(out)  # type: ignore[no-any-return]
