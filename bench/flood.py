"""A legitimate client's p99 latency with and without a flood of bad signatures from another
address: ``python -m bench.flood [--seconds 10] [--pairs 5] [--backend sqlite|postgres|both]``.

The legitimate client is wrk at a steady 300 requests a second (GetCallerIdentity, each its
own nonce) from 127.0.0.1; the flood is 10,000 requests a minute (167 a second, each a wrong
signature of an existing AccessKey ID, so the server looks the key up and computes the HMAC
unless it throttles) from 127.0.0.2. Quiet and flooded runs go in turns on one server, PAIRS
times, and the figure is the median of the pairs' p99 ratios (the machine's noise cancels
out); the same with the throttle switched off shows what it buys.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import wrk
from bench.procs import python
from bench.run import CLIENT_CPU, SERVER_CPU, _scratch_pg, root_pair, serve_keyhouse
from bench.signer import rpc_query, signed_path

LEGITIMATE_RATE = 300.0
FLOOD_PER_MINUTE = 10_000


def _flood(port: int, access_key_id: str, seconds: float, per_minute: int, sent: Any) -> None:
    """Bad signatures from 127.0.0.2, ``per_minute``, on one kept-alive connection."""
    os.sched_setaffinity(0, {CLIENT_CPU})
    interval = 60.0 / per_minute
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0)
    )
    start = time.monotonic()
    count = 0
    while time.monotonic() - start < seconds:
        query = rpc_query(access_key_id, "not-the-secret", "GetCallerIdentity", "2015-04-01")
        try:
            conn.request("POST", "/?" + urlencode(query), headers={"Host": f"127.0.0.1:{port}"})
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = _connection(port)
        count += 1
        pause = start + count * interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    sent.value = count


def _connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0)
    )


def _p99(port: int, ak: str, sk: str, seconds: int, flooded: int) -> tuple[float, int]:
    """The legitimate client's p99 (ms) over ``seconds`` while ``flooded`` bad signatures a
    minute arrive (0: none), and how many flood requests went."""
    count = int(LEGITIMATE_RATE * (seconds + 5))
    paths = [signed_path(ak, sk, "GetCallerIdentity", "2015-04-01") for _ in range(count)]
    sent = multiprocessing.Value("i", 0)
    flood = None
    if flooded:
        flood = multiprocessing.Process(target=_flood, args=(port, ak, seconds + 1, flooded, sent))
        flood.start()
        time.sleep(1)  # the flood is on before the measurement starts
    result = wrk.run(
        "127.0.0.1",
        port,
        paths,
        seconds=seconds,
        connections=8,
        cpu=CLIENT_CPU,
        rate=LEGITIMATE_RATE,
    )
    if flood is not None:
        flood.join()
    if result.errors:
        raise RuntimeError(f"the legitimate client saw {result.errors} errors")
    return result.p99_ms, int(sent.value)


def measure(url: str, backend: str, throttle: bool, args: argparse.Namespace, work: Path) -> float:
    env = {
        **os.environ,
        "KEYHOUSE_DATABASE_URL": url,
        "KEYHOUSE_MASTER_KEY_FILE": str(work / f"{backend}-{throttle}.key"),
        "KEYHOUSE_AUTH_FAILURES_PER_MINUTE": "60" if throttle else "0",
        "KEYHOUSE_LOG_LEVEL": "warning",
    }
    server = serve_keyhouse(f"flood-{backend}-{throttle}", env, work, SERVER_CPU)
    try:
        ak, sk = root_pair(server)
        _p99(server.port, ak, sk, 3, 0)  # warm-up
        ratios = []
        for _ in range(args.pairs):
            cpu = server.cpu_seconds()
            quiet, _ = _p99(server.port, ak, sk, args.seconds, 0)
            cpu_quiet, cpu = server.cpu_seconds() - cpu, server.cpu_seconds()
            flooded, sent = _p99(server.port, ak, sk, args.seconds, args.per_minute)
            cpu_flooded = server.cpu_seconds() - cpu
            ratios.append(flooded / quiet)
            print(
                f"  {backend:<9} throttle {'on ' if throttle else 'off'}  p99 quiet "
                f"{quiet:6.2f} ms, flooded {flooded:6.2f} ms ({sent} bad signatures, "
                f"{sent * 60 / (args.seconds + 1):.0f}/min): {flooded / quiet:.2f}; server CPU "
                f"{cpu_quiet:.1f} s quiet, {cpu_flooded:.1f} s flooded",
                flush=True,
            )
        ratio = statistics.median(ratios)
        print(f"  {backend} throttle {'on' if throttle else 'off'}: median p99 ratio {ratio:.2f}")
        return ratio
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--per-minute", type=int, default=FLOOD_PER_MINUTE)
    args = parser.parse_args()
    print(
        f"flood: legitimate client at {LEGITIMATE_RATE:.0f}/s, flood {args.per_minute}/min "
        f"from another address; {args.pairs} pairs of {args.seconds} s ({python()})"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
        for backend in backends:
            for throttle in (True, False):
                pg = _scratch_pg(args.pg) if backend == "postgres" else None
                url = pg.url if pg else f"sqlite:///{work / f'flood-{throttle}.db'}"
                try:
                    results[(backend, throttle)] = measure(url, backend, throttle, args, work)
                finally:
                    if pg:
                        pg.drop()
    print("\nlegitimate p99, flooded ÷ quiet (median of pairs):")
    for (backend, throttle), ratio in results.items():
        print(f"  {backend:<9} throttle {'on ' if throttle else 'off'}  {ratio:.2f}")


if __name__ == "__main__":
    main()
