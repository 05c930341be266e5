"""``python -m fuzz [TARGET ...] [--runs N]``: each target in a process of its own, for N
executions (10^6 by default), with a 2 s limit per input; a crash or a slow input stops its
target with libFuzzer's report and the input saved as ``crash-*``/``timeout-*`` in the working
directory. Exit status: 0 when every target ran clean."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

NAMES = ("authorization", "request", "timestamps", "policy", "network-policy", "trust-policy")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz")
    parser.add_argument("targets", nargs="*", help=f"some of: {', '.join(NAMES)} (all)")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--max-len", type=int, default=4096)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child: run this target
    args = parser.parse_args()
    if args.one:
        return _fuzz(args.one, args.runs, args.max_len)
    unknown = set(args.targets) - set(NAMES)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}: choose from {', '.join(NAMES)}")
    failed = []
    for name in args.targets or NAMES:
        started = time.monotonic()
        ran = subprocess.run(  # noqa: S603 - this very module, with our own arguments
            [
                sys.executable,
                "-m",
                "fuzz",
                "--one",
                name,
                "--runs",
                str(args.runs),
                "--max-len",
                str(args.max_len),
            ],
            check=False,
        )
        seconds = time.monotonic() - started
        verdict = "clean" if ran.returncode == 0 else f"FAILED (exit {ran.returncode})"
        print(f"fuzz {name}: {args.runs} runs in {seconds:.0f} s, {verdict}", flush=True)
        if ran.returncode:
            failed.append(name)
    return 1 if failed else 0


def _fuzz(name: str, runs: int, max_len: int) -> int:
    import tempfile

    import atheris

    from fuzz.targets import TARGETS

    # The corpus grows in a scratch directory, from the target's seeds (valid inputs).
    corpus = tempfile.mkdtemp(prefix=f"fuzz-{name}-")
    flags = [
        f"-runs={runs}",
        "-timeout=2",
        f"-max_len={max_len}",
        f"-dict={HERE / 'keyhouse.dict'}",
    ]
    atheris.Setup([sys.argv[0], *flags, corpus, str(HERE / "seeds" / name)], TARGETS[name])
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
