"""Two trees side by side: `python -m bench.ab OLD_TREE NEW_TREE [--rounds 3] [--rate R]`.

Starts one Keyhouse server from each tree (``PYTHONPATH=<tree>``, each on its own SQLite
store, both pinned to the server core), then drives (a) GetCallerIdentity with a RAM user's
key and (b) ListAccessKeys with the root's, in turns, round after round, and prints the
medians of CPU per request, req/s and p99 for each tree. Measuring in turns on one machine is
what makes a 10% change visible on these noisy hosts (``git worktree add /tmp/old <rev>``
makes the old tree).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from bench.run import _call, measure, root_pair, serve_keyhouse
from bench.signer import signed_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--rate", type=float, default=0, help="paced at this many req/s (0: saturated)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="keyhouse-ab-"))
    servers = []
    try:
        for i, tree in enumerate(args.trees):
            env = dict(
                os.environ,
                PYTHONPATH=str(Path(tree).resolve()),
                KEYHOUSE_DATABASE_URL=f"sqlite:///{work / f'{i}.db'}",
                KEYHOUSE_MASTER_KEY_FILE=str(work / f"{i}.key"),
            )
            server = serve_keyhouse(f"tree{i}", env, work)
            servers.append(server)
            ak, sk = root_pair(server)
            domain = _call(server.port, signed_path(ak, sk, "GetDefaultDomain", "2019-08-15"))[
                "DefaultDomainName"
            ]
            upn = f"bench@{domain}"
            made = {"UserPrincipalName": upn, "DisplayName": "bench"}
            _call(server.port, signed_path(ak, sk, "CreateUser", "2019-08-15", made))
            key = _call(
                server.port,
                signed_path(ak, sk, "CreateAccessKey", "2019-08-15", {"UserPrincipalName": upn}),
            )["AccessKey"]
            reads = {
                "(a)": (key["AccessKeyId"], key["AccessKeySecret"], "GetCallerIdentity",
                        "2015-04-01", {}),
                "(b)": (ak, sk, "ListAccessKeys", "2019-08-15", {"UserPrincipalName": upn}),
            }  # fmt: skip
            server.reads = reads  # type: ignore[attr-defined]
        found: dict[tuple[int, str], list[tuple[float, float, float]]] = {}
        count = 12_000 * (args.seconds + args.seconds // 5 + 2)
        for _ in range(args.rounds):
            for i, server in enumerate(servers):
                for name, (k, s, action, version, params) in server.reads.items():  # type: ignore[attr-defined]
                    paths = [signed_path(k, s, action, version, params) for _ in range(count)]
                    paced = {"rate": args.rate} if args.rate else {}
                    row = measure(server, f"{args.trees[i]} {name}", "sqlite", paths, args, **paced)
                    found.setdefault((i, name), []).append(
                        (row.cpu_ms_per_request, row.rps, row.p99_ms)
                    )
        for (i, name), rows in sorted(found.items()):
            cpu, rps, p99 = (statistics.median(r[j] for r in rows) for j in range(3))
            print(
                f"{args.trees[i]} {name}: cpu {cpu:.3f} ms/req  {rps:,.0f} req/s  "
                f"p99 {p99:.1f} ms (medians of {len(rows)})"
            )
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
