"""What putting Keyhouse in front of an API costs: ``python -m bench.gateway``.

The documented nginx block (deploy/nginx/protect.conf) with ``auth_request`` to a real
Keyhouse, in front of an upstream that answers at once (a second nginx server returning a
fixed JSON body, so that the figures are the gateway's and Keyhouse's, not an application's).
Every request is signed anew (ACS3-HMAC-SHA256, its own nonce) by a RAM user with a policy.

Rows, each measured in the same run (these machines are noisy, so the targets are ratios and
differences between rows, not absolute figures):

- nginx -> upstream alone, and nginx -> Keyhouse -> upstream: throughput at saturation, then
  p50/p99 of both at the same rate, half of the protected path's throughput; the p99 the check
  adds is the difference (target < 5 ms).
- Keyhouse alone: ``/gateway/verify`` against GetCallerIdentity on the same server, in
  alternating turns (the median of the pairs' ratios; target within 10%).

Keyhouse is pinned to one core; wrk and nginx share the other.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import wrk
from bench.procs import free_port
from bench.run import CLIENT_CPU, ROOT, _scratch_pg, root_pair, serve_keyhouse
from bench.signer import rpc_query, v3_headers

VERSION = "2024-01-01"
DAEMON = ("-g", "daemon off;")
IMS = "2019-08-15"
RAM = "2015-05-01"
UPSTREAM = """
    server {
        listen 127.0.0.1:UPSTREAM_PORT;
        location / {
            default_type application/json;
            return 200 '{"ok":true}';
        }
    }
    server {
        listen 127.0.0.1:BARE_PORT;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://orders_api;
        }
    }
"""


@dataclass
class Row:
    scenario: str
    backend: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _rpc(
    port: int, ak: str, sk: str, action: str, params: dict[str, str], version: str = IMS
) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        query = rpc_query(ak, sk, action, version, params)
        conn.request("POST", "/?" + urlencode(query), headers={"Host": f"127.0.0.1:{port}"})
        response = conn.getresponse()
        body: dict[str, Any] = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{action}: {body}")
        return body
    finally:
        conn.close()


def _world(port: int, ak: str, sk: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The orders service, a gateway user and a caller: (gateway pair, caller pair)."""
    routes = [
        {
            "Method": "GET",
            "Path": "/orders/{id}",
            "Action": "orders:GetOrder",
            "Resource": "acs:orders:*:${account}:order/{id}",
        }
    ]
    _rpc(port, ak, sk, "CreateService", {"ServiceName": "orders", "Routes": json.dumps(routes)})
    domain = _rpc(port, ak, sk, "GetDefaultDomain", {})["DefaultDomainName"]
    pairs = []
    for name, statement in (
        ("gateway", {"Effect": "Allow", "Action": "keyhouse:VerifyRequest", "Resource": "*"}),
        ("caller", {"Effect": "Allow", "Action": "orders:Get*", "Resource": "*"}),
    ):
        upn = f"{name}@{domain}"
        _rpc(port, ak, sk, "CreateUser", {"UserPrincipalName": upn, "DisplayName": name})
        document = json.dumps({"Version": "1", "Statement": [statement]})
        policy = {"PolicyName": f"{name}-p", "PolicyDocument": document}
        _rpc(port, ak, sk, "CreatePolicy", policy, RAM)
        attach = {"PolicyName": f"{name}-p", "PolicyType": "Custom", "UserName": name}
        _rpc(port, ak, sk, "AttachPolicyToUser", attach, RAM)
        key = _rpc(port, ak, sk, "CreateAccessKey", {"UserPrincipalName": upn})["AccessKey"]
        pairs.append((key["AccessKeyId"], key["AccessKeySecret"]))
    return pairs[0], pairs[1]


def _signed(host: str, caller: tuple[str, str], count: int) -> list[wrk.Request]:
    found = []
    for n in range(count):
        path = f"/orders/{n % 1000}"
        headers = v3_headers(host, *caller, "GetOrder", VERSION, {}, method="GET", path=path)
        found.append(("GET", path, headers))
    return found


def _verify(host: str, caller: tuple[str, str], gateway: tuple[str, str], count: int) -> list[Any]:
    """The question nginx asks, as it asks it (gateway headers and all)."""
    found = []
    for method, path, headers in _signed("127.0.0.1:8080", caller, count):
        headers = {
            **headers,
            "host": host,
            "x-forwarded-method": method,
            "x-forwarded-uri": path,
            "x-forwarded-host": "127.0.0.1:8080",
            "x-forwarded-for": "127.0.0.1",
            "x-keyhouse-service": "orders",
            "x-keyhouse-gateway": f"{gateway[0]}:{gateway[1]}",
        }
        found.append(("GET", "/gateway/verify", headers))
    return found


def _caller_identity(host: str, caller: tuple[str, str], count: int) -> list[wrk.Request]:
    return [
        ("POST", "/", v3_headers(host, *caller, "GetCallerIdentity", "2015-04-01", {}))
        for _ in range(count)
    ]


def _measure(
    name: str,
    backend: str,
    port: int,
    requests: list[wrk.Request],
    args: argparse.Namespace,
    rate: float | None = None,
) -> Row:
    result = wrk.run(
        "127.0.0.1",
        port,
        [],
        seconds=args.seconds,
        connections=args.connections,
        cpu=CLIENT_CPU,
        rate=rate,
        requests=requests,
    )
    row = Row(name, backend, result.rps, result.p50_ms, result.p99_ms, result.errors)
    print(
        f"  {name:<44} {backend:<9} {row.rps:>8.0f} req/s  p50 {row.p50_ms:6.2f} ms  "
        f"p99 {row.p99_ms:7.2f} ms  errors {row.errors}",
        flush=True,
    )
    return row


def _nginx(work: Path, keyhouse_port: int, gateway: tuple[str, str]) -> tuple[Any, int, int]:
    """nginx with the documented block (and the upstream, and a bare proxy to it): the process,
    the protected port, the bare port."""
    protected, upstream, bare = free_port(), free_port(), free_port()
    conf = (
        (ROOT / "deploy" / "nginx" / "protect.conf")
        .read_text()
        .replace("127.0.0.1:8000", f"127.0.0.1:{keyhouse_port}")
        .replace("127.0.0.1:9000", f"127.0.0.1:{upstream}")
        .replace("listen 127.0.0.1:8080", f"listen 127.0.0.1:{protected}")
        .replace("GATEWAY_ACCESS_KEY_ID", gateway[0])
        .replace("GATEWAY_ACCESS_KEY_SECRET", gateway[1])
    )
    extra = UPSTREAM.replace("UPSTREAM_PORT", str(upstream)).replace("BARE_PORT", str(bare))
    conf = conf.rstrip().removesuffix("}") + extra + "}\n"
    prefix = work / "nginx"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    (prefix / "nginx.conf").write_text(conf)
    binary = "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "nginx"
    argv = ["taskset", "-c", str(CLIENT_CPU), binary]
    proc = subprocess.Popen(
        [*argv, "-p", str(prefix), "-c", "nginx.conf", *DAEMON],
        stderr=(prefix / "error.log").open("wb"),
    )
    time.sleep(0.5)
    return proc, protected, bare


def run_backend(args: argparse.Namespace, work: Path, backend: str, url: str) -> list[Row]:
    env = dict(
        os.environ,
        KEYHOUSE_DATABASE_URL=url,
        KEYHOUSE_MASTER_KEY_FILE=str(work / f"{backend}.key"),
        KEYHOUSE_TRUSTED_PROXIES="127.0.0.1/32",
    )
    server = serve_keyhouse(f"keyhouse-{backend}", env, work)
    rows: list[Row] = []
    try:
        gateway, caller = _world(server.port, *root_pair(server))
        proc, protected, bare = _nginx(work, server.port, gateway)
        try:
            count = args.seconds * 6000
            host = f"127.0.0.1:{protected}"
            _measure("warm-up", backend, protected, _signed(host, caller, 2000), args)
            bare_host = f"127.0.0.1:{bare}"
            peak_bare = _measure(
                "nginx -> upstream", backend, bare, _signed(bare_host, caller, count), args
            )
            peak = _measure(
                "nginx -> Keyhouse -> upstream",
                backend,
                protected,
                _signed(host, caller, count),
                args,
            )
            rows += [peak_bare, peak]
            half = peak.rps / 2
            at_half = int(half * args.seconds * 1.3) + 1000
            rows.append(
                _measure(
                    "nginx -> upstream, at half",
                    backend,
                    bare,
                    _signed(bare_host, caller, at_half),
                    args,
                    rate=half,
                )
            )
            rows.append(
                _measure(
                    "nginx -> Keyhouse -> upstream, at half",
                    backend,
                    protected,
                    _signed(host, caller, at_half),
                    args,
                    rate=half,
                )
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        keyhouse_host = f"127.0.0.1:{server.port}"
        ratios = []
        for turn in range(args.pairs):
            verify = _measure(
                f"Keyhouse /gateway/verify (turn {turn + 1})",
                backend,
                server.port,
                _verify(keyhouse_host, caller, gateway, count),
                args,
            )
            identity = _measure(
                f"Keyhouse GetCallerIdentity (turn {turn + 1})",
                backend,
                server.port,
                _caller_identity(keyhouse_host, caller, count),
                args,
            )
            rows += [verify, identity]
            ratios.append(verify.rps / identity.rps)
        bare_half, protected_half = rows[2], rows[3]
        print(
            f"  {backend}: the check adds p50 {protected_half.p50_ms - bare_half.p50_ms:.2f} ms, "
            f"p99 {protected_half.p99_ms - bare_half.p99_ms:.2f} ms at {half:.0f} req/s "
            f"(target < 5 ms); /gateway/verify over GetCallerIdentity: median "
            f"{statistics.median(ratios):.3f} of {len(ratios)} turns "
            f"{[round(r, 3) for r in ratios]} (target >= 0.90)",
            flush=True,
        )
    finally:
        server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.backend in {"sqlite", "both"}:
            run_backend(args, work, "sqlite", f"sqlite:///{work / 'k.db'}")
        if args.backend in {"postgres", "both"}:
            pg = _scratch_pg(args.pg)
            try:
                run_backend(args, work, "postgres", pg.url)
            finally:
                pg.drop()


if __name__ == "__main__":
    main()
