"""Where a signed request's time goes: `python -m bench.profile [--action ListAccessKeys]`.

Starts Keyhouse on a fresh SQLite store (or ``--pg URL``), drives it with wrk as the benchmark
does, records the server with py-spy meanwhile, and prints:

- **the per-stage budget**: µs of server CPU per request in each stage (HTTP server, parse,
  sign, authorize, use-case, reply, event row, hand-over, log line and metrics, commit thread,
  other), so that a regression shows which stage moved. Each sample (py-spy counts running
  threads only) goes to the stage of its innermost Keyhouse frame (:data:`STAGES`); µs per
  request is samples ÷ rate ÷ requests served;
- the functions holding the most samples on the event loop's thread and on the others (self
  time and inclusive time).
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

RATE = 250  # py-spy samples per second and thread

# Stage of a sample: the first rule matching its innermost Keyhouse frame ("path:function"
# substrings), looked for from the innermost frame outwards. Samples of a thread other than the
# event loop's are "commit thread" (the group committer is the only one busy under this load).
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("log line and metrics", ("keyhouse/logs.py", "keyhouse/metrics.py", "prometheus_client")),
    ("event row", ("keyhouse/services/trail/draft.py:build_row", "keyhouse/domain/audit.py",
                   "keyhouse/ids.py")),
    ("hand-over", ("keyhouse/services/trail/committer.py", "keyhouse/services/trail/writer.py")),
    ("sign", ("keyhouse/signing/", "keyhouse/services/authn.py", "keyhouse/services/tokens.py",
              "keyhouse/crypto.py")),
    ("authorize", ("keyhouse/services/authz.py", "keyhouse/domain/policy.py",
                   "keyhouse/domain/netpolicy.py", "keyhouse/domain/wildcard.py")),
    ("parse", ("keyhouse/api/wire.py", "keyhouse/api/params.py")),
    ("reply", ("keyhouse/api/render.py", "keyhouse/api/asgi.py:_send",
               "keyhouse/api/asgi.py:_reply")),
    ("use-case", ("keyhouse/services/", "keyhouse/store/", "keyhouse/api/ims.py",
                  "keyhouse/api/ram.py", "keyhouse/api/sts.py")),
    ("dispatch", ("keyhouse/api/dispatch.py", "keyhouse/api/asgi.py")),
    ("HTTP server", ("keyhouse/api/protocol.py",)),
)  # fmt: skip


# Frames of a thread that waits (py-spy may still sample it): not CPU spent on requests.
_WAITING = (".wait (threading.py", "select (selectors.py", "poll (selectors.py")
# Keyhouse frames under which the HTTP server itself runs: not a stage of their own.
_OUTER = ("keyhouse/cli/", "keyhouse/__main__.py")


def stage_of(frames: list[str]) -> str | None:
    """The stage of one sample's stack (outermost frame first, the thread's name before it);
    None for a thread that was waiting."""
    if any(w in frames[-1] for w in _WAITING):
        return None
    if "MainThread" not in frames[0]:
        return "commit thread"
    for frame in reversed(frames[1:]):
        if "keyhouse/" not in frame and "prometheus_client" not in frame:
            continue
        if any(outer in frame for outer in _OUTER):
            continue
        for stage, marks in STAGES:
            if any(mark in _where(frame) for mark in marks):
                return stage
        return "other"
    return "HTTP server"  # uvicorn, httptools, asyncio: no Keyhouse frame on the stack


def _where(frame: str) -> str:
    """``path:function`` of a py-spy raw frame ``function (path:line)``."""
    function, _, rest = frame.partition(" (")
    return f"{rest.rsplit(':', 1)[0]}:{function}"


def budget(raw: str, rate: int, requests: float) -> dict[str, float]:
    """Print and return µs of server CPU per request in each stage."""
    samples: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        stage = stage_of(frames) if len(frames) >= 2 else None
        if stage is not None:
            samples[stage] += int(count)
    per_request = {stage: 1e6 * n / rate / max(requests, 1) for stage, n in samples.most_common()}
    print(f"\n== per-stage budget: µs of server CPU per request ({requests:.0f} requests)")
    for stage, us in per_request.items():
        print(f"{stage:>22}  {us:7.1f}")
    print(f"{'total':>22}  {sum(per_request.values()):7.1f}")
    return per_request


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
                        "-r", str(RATE), "-f", "raw", "-t", "-o", str(out), "--nonblocking",
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
            raw = out.read_text()
            budget(raw, RATE, result.rps * args.seconds)
            report(raw, args.top)
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
