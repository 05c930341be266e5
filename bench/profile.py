"""Where a signed request's time goes: `python -m bench.profile [--action ListAccessKeys]`.

Starts Keyhouse on a fresh SQLite store (or ``--pg URL``), drives it with wrk as the benchmark
does, records the server with py-spy meanwhile, and prints the functions holding the most
samples on the event loop's thread and on the others (self time and inclusive time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import urllib.request
from collections import Counter
from pathlib import Path

from bench import wrk
from bench.run import CLIENT_CPU, _call, root_pair, serve_keyhouse
from bench.signer import signed_path

_ACTIONS = {
    "GetCallerIdentity": ("2015-04-01", False),
    "ListAccessKeys": ("2019-08-15", True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--action", choices=sorted(_ACTIONS), default="ListAccessKeys")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--pg", default="", help="a PostgreSQL URL instead of SQLite")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url = args.pg or f"sqlite:///{work / 'profile.db'}"
        env = dict(
            os.environ, KEYHOUSE_DATABASE_URL=url, KEYHOUSE_MASTER_KEY_FILE=str(work / "k.key")
        )
        server = serve_keyhouse("keyhouse", env, work)
        try:
            ak, sk = root_pair(server)
            version, by_user = _ACTIONS[args.action]
            params: dict[str, str] = {}
            if by_user:
                domain = _call(server.port, signed_path(ak, sk, "GetDefaultDomain", "2019-08-15"))[
                    "DefaultDomainName"
                ]
                params = {"UserPrincipalName": f"bench@{domain}"}
                _call(
                    server.port,
                    signed_path(ak, sk, "CreateUser", "2019-08-15", {**params, "DisplayName": "b"}),
                )
            paths = [
                signed_path(ak, sk, args.action, version, params)
                for _ in range(5000 * (args.seconds + 2))
            ]
            out = work / "profile.txt"
            assert server.proc is not None
            recorder = threading.Thread(
                target=subprocess.run,
                args=(
                    [
                        "py-spy", "record", "-p", str(server.proc.pid), "-d", str(args.seconds),
                        "-r", "250", "-f", "raw", "-t", "-o", str(out), "--nonblocking",
                    ],
                ),
                kwargs={"capture_output": True},
            )  # fmt: skip
            recorder.start()
            result = wrk.run(
                "127.0.0.1",
                server.port,
                paths,
                seconds=args.seconds,
                connections=64,
                cpu=CLIENT_CPU,
            )
            recorder.join()
            print(f"{args.action}: {result.rps:.0f} req/s, p99 {result.p99_ms:.1f} ms")
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz") as reply:
                health = json.loads(reply.read())
            trail = health["trail"]
            each = trail["batchedItems"] / max(trail["batches"], 1)
            print(f"batches {trail['batches']}, {each:.1f} requests each; {health['cache']}")
            report(out.read_text(), args.top)
        finally:
            server.stop()


def report(raw: str, top: int) -> None:
    """Self and inclusive sample counts per function, per thread kind."""
    for kind in ("MainThread", "other threads"):
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = 0
        for line in raw.splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            main = "MainThread" in frames[0]
            if main != (kind == "MainThread") or len(frames) < 2:
                continue
            n = int(count)
            total += n
            own[frames[-1]] += n
            for frame in set(frames[1:]):
                inclusive[frame] += n
        print(f"\n== {kind}: {total} samples")
        print("-- self")
        for frame, n in own.most_common(top):
            print(f"{100 * n / max(total, 1):5.1f}%  {frame}")
        print("-- inclusive")
        for frame, n in inclusive.most_common(top):
            print(f"{100 * n / max(total, 1):5.1f}%  {frame}")


if __name__ == "__main__":
    main()
