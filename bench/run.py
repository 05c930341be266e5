"""One command, one table: `python -m bench` (docs/benchmarks.md explains the method)."""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import platform
import re
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import wrk
from bench.procs import Served, python
from bench.signer import signed_path

SERVER_CPU = 1  # the server under test owns this core
PAIRS = 5  # turns of long-term and temporary (a): their median ratio is the figure
CLIENT_CPU = 0  # the load generator owns the other
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks"
UVICORN = [
    "-m",
    "uvicorn",
    "--host",
    "127.0.0.1",
    "--port",
    "{port}",
    "--no-access-log",
    "--log-level",
    "warning",
]


@dataclass
class Row:
    scenario: str
    backend: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    peak_rss_mb: float
    errors: int
    generator_cpu: float
    requests: int
    # Throughput over a baseline measured in turns with it on the same server (the median of
    # the pairs' ratios), where the row has one: the noise of the machine cancels out.
    paired_ratio: float | None = None


def serve_keyhouse(
    name: str, env: dict[str, str], work: Path, cpu: int | str = SERVER_CPU, *flags: str
) -> Served:
    """``keyhouse serve`` pinned to ``cpu``, started and healthy."""
    argv = [python(), "-m", "keyhouse", "serve", "--port", "{port}", *flags]
    return Served(name, argv, env, work, cpu).start()


def root_pair(server: Served) -> tuple[str, str]:
    """The root AccessKey pair a new store's first start printed."""
    text = server.log_text()
    ak = re.search(r"AccessKeyId:\s+(\S+)", text)
    sk = re.search(r"AccessKeySecret:\s+(\S+)", text)
    assert ak and sk, text[-1000:]
    return ak.group(1), sk.group(1)


def measure(
    server: Served,
    name: str,
    backend: str,
    paths: list[str],
    args: argparse.Namespace,
    warm: bool = True,
    **extra: Any,
) -> Row:
    warm_seconds = max(1, args.seconds // 5) if warm else 0
    # wrk starts its list afresh on each run: warm up on a separate share so that the measured
    # run never replays a nonce the warm-up spent (a list of one path is for nonce-free peers).
    split = len(paths) * warm_seconds // (warm_seconds + args.seconds) if len(paths) > 1 else 0
    warmup, measured = (paths[:split], paths[split:]) if split else (paths, paths)
    if warm:
        wrk.run(
            "127.0.0.1",
            server.port,
            warmup,
            seconds=warm_seconds,
            connections=args.connections,
            cpu=CLIENT_CPU,
            **extra,
        )
    cpu_before = server.cpu_seconds()
    result = wrk.run(
        "127.0.0.1",
        server.port,
        measured,
        seconds=args.seconds,
        connections=args.connections,
        cpu=CLIENT_CPU,
        **extra,
    )
    cpu = server.cpu_seconds() - cpu_before
    row = Row(
        name,
        backend,
        result.rps,
        result.p50_ms,
        result.p99_ms,
        1000 * cpu / max(result.requests, 1),
        server.peak_rss_mb(),
        result.errors,
        result.generator_cpu,
        result.requests,
    )
    print(
        f"  {name:<38} {backend:<9} {row.rps:>9.0f} req/s  p50 {row.p50_ms:6.2f} ms  "
        f"p99 {row.p99_ms:7.2f} ms  cpu {row.cpu_ms_per_request:5.2f} ms/req  "
        f"rss {row.peak_rss_mb:6.1f} MB  errors {row.errors}  wrk-cpu {row.generator_cpu:.2f}",
        flush=True,
    )
    return row


GRANIAN = [
    "-m",
    "granian",
    "--interface",
    "asgi",
    "--host",
    "127.0.0.1",
    "--port",
    "{port}",
    "--log-level",
    "warning",
]


def ceiling(args: argparse.Namespace, work: Path) -> list[Row]:
    """A bare ASGI app under the server Keyhouse runs on (uvicorn, with uvloop and httptools)
    and under granian, the Rust server: what any ASGI application could reach here."""
    rows = []
    for name, argv in (
        ("ceiling: bare ASGI, uvicorn", [python(), *UVICORN, "bench.ceiling:app"]),
        ("ceiling: bare ASGI, granian", [python(), *GRANIAN, "bench.ceiling:app"]),
    ):
        server = Served(
            name.split()[-1], argv, dict(os.environ, PYTHONPATH=str(ROOT)), work, SERVER_CPU
        ).start(health="/")
        try:
            rows.append(measure(server, name, "-", ["/"], args))
        finally:
            server.stop()
    return rows


def moto(args: argparse.Namespace, work: Path) -> Row:
    """moto's server (auth on) answering IAM ListAccessKeys signed with SigV4 by botocore."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        INITIAL_NO_AUTH_ACTION_COUNT="10",
        AWS_ACCESS_KEY_ID="setup",
        AWS_SECRET_ACCESS_KEY="setup",
    )
    server = Served(
        "moto",
        [python(), *UVICORN, "--interface", "wsgi", "bench.moto_app:app"],
        env,
        work,
        SERVER_CPU,
    ).start(health="/")
    try:
        iam = boto3.client(
            "iam",
            endpoint_url=f"http://127.0.0.1:{server.port}",
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="bench")
        key = iam.create_access_key(UserName="bench")["AccessKey"]
        iam.put_user_policy(
            UserName="bench",
            PolicyName="all",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        # Spend the rest of moto's unauthenticated allowance: from here on, it checks signatures.
        from botocore.exceptions import ClientError

        for _ in range(12):
            try:
                iam.list_users()
            except ClientError:
                break
        else:
            raise RuntimeError("moto never switched request authentication on")
        body = "Action=ListAccessKeys&Version=2010-05-08&UserName=bench"
        request = AWSRequest(
            "POST",
            f"http://127.0.0.1:{server.port}/",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        SigV4Auth(
            Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "iam", "us-east-1"
        ).add_auth(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        check = http.client.HTTPConnection("127.0.0.1", server.port)
        check.request(
            "POST", "/", body=body, headers={**headers, "Host": f"127.0.0.1:{server.port}"}
        )
        reply = check.getresponse()
        assert reply.status == 200, reply.read()[:300]
        reply.read()
        forged = dict(headers, Authorization=headers["Authorization"][:-4] + "0000")
        check.request(
            "POST", "/", body=body, headers={**forged, "Host": f"127.0.0.1:{server.port}"}
        )
        refused = check.getresponse()
        refused.read()
        assert refused.status == 403, "moto must have request authentication on"
        return measure(
            server, "moto: IAM ListAccessKeys, SigV4", "-", ["/"], args, headers=headers, body=body
        )
    finally:
        server.stop()


def _call(port: int, path: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, headers={"Host": f"127.0.0.1:{port}"})
    reply = conn.getresponse()
    data = json.loads(reply.read())
    assert reply.status == 200, data
    return data  # type: ignore[no-any-return]


def keyhouse(
    args: argparse.Namespace, work: Path, backend: str, url: str, ceiling_rps: float
) -> list[Row]:
    env = dict(
        os.environ, KEYHOUSE_DATABASE_URL=url, KEYHOUSE_MASTER_KEY_FILE=str(work / f"{backend}.key")
    )
    server = serve_keyhouse(f"keyhouse-{backend}", env, work)
    try:
        ak_, sk_ = root_pair(server)
        domain = _call(server.port, signed_path(ak_, sk_, "GetDefaultDomain", "2019-08-15"))[
            "DefaultDomainName"
        ]
        upn = f"bench@{domain}"
        _call(
            server.port,
            signed_path(
                ak_,
                sk_,
                "CreateUser",
                "2019-08-15",
                {"UserPrincipalName": upn, "DisplayName": "bench"},
            ),
        )
        for _ in range(2):
            _call(
                server.port,
                signed_path(ak_, sk_, "CreateAccessKey", "2019-08-15", {"UserPrincipalName": upn}),
            )
        count = int(
            min(max(ceiling_rps, 2000) * (args.seconds + args.seconds // 5 + 2) * 1.2, 600000)
        )
        rows = [] if args.quick else [lifecycle_mix(server, backend, ak_, sk_, domain, args)]
        reads = (
            ("(a) GetCallerIdentity", "GetCallerIdentity", "2015-04-01", {}),
            ("(b) ListAccessKeys", "ListAccessKeys", "2019-08-15", {"UserPrincipalName": upn}),
        )
        for name, action, version, params in reads:
            paths = [signed_path(ak_, sk_, action, version, params) for _ in range(count)]
            rows.append(measure(server, f"keyhouse {name}", backend, paths, args))
        peak_a = rows[-2].rps
        rows.append(temporary_reads(server, backend, ak_, sk_, peak_a, args))
        rows.append(guarded_reads(server, backend, ak_, sk_, upn, count, args))
        rows.append(unaudited(env, work, backend, ak_, sk_, reads[1], count, args))
        if args.quick:
            return rows
        peaks = {r.scenario: r.rps for r in rows}
        for name, action, version, params in reads:
            rate = peaks[f"keyhouse {name}"] / 2
            paths = [
                signed_path(ak_, sk_, action, version, params)
                for _ in range(int(rate * (args.seconds + args.seconds // 5 + 2) * 1.2) + 1000)
            ]
            rows.append(
                measure(
                    server, f"keyhouse {name} at half its peak", backend, paths, args, rate=rate
                )
            )
        half = peaks["keyhouse (b) ListAccessKeys"] / 2

        def b_paths() -> list[str]:
            return [signed_path(ak_, sk_, *reads[1][1:]) for _ in range(int(half * 20) + 1000)]

        rows.append(purge_under_load(server, backend, url, work, env, b_paths(), half, args))
        rows += workers(env, work, backend, ak_, sk_, reads[0], count, args)
        if args.large:
            from bench import dataset

            took = dataset.load(url, work / f"{backend}.key")
            print(
                f"  loaded 1,000,000 keys and 200,000 users ({backend}) in {took:.0f} s", flush=True
            )
            for name, action, version, params in reads:
                paths = [signed_path(ak_, sk_, action, version, params) for _ in range(count)]
                rows.append(
                    measure(server, f"keyhouse (d) {name[4:]}, 1M keys", backend, paths, args)
                )
        return rows
    finally:
        server.stop()


def workers(
    env: dict[str, str],
    work: Path,
    backend: str,
    ak: str,
    sk: str,
    read: tuple[str, str, str, dict[str, str]],
    count: int,
    args: argparse.Namespace,
) -> list[Row]:
    """(a) on one worker process and on two (``serve --workers 2``), each server allowed both
    cores (wrk shares core 0): what a second worker adds on this two-core machine."""
    rows = []
    for n in (1, 2):
        cores = f"{CLIENT_CPU},{SERVER_CPU}"
        served = serve_keyhouse(
            f"keyhouse-{backend}-workers{n}", env, work, cores, "--workers", str(n)
        )
        try:
            _, action, version, params = read
            paths = [signed_path(ak, sk, action, version, params) for _ in range(count)]
            name = f"keyhouse (a), {n} worker{'s' if n > 1 else ''}, 2 cores"
            rows.append(measure(served, name, backend, paths, args))
        finally:
            served.stop()
    return rows


def unaudited(
    env: dict[str, str],
    work: Path,
    backend: str,
    ak: str,
    sk: str,
    read: tuple[str, str, str, dict[str, str]],
    count: int,
    args: argparse.Namespace,
) -> Row:
    """(b) again on a second server over the same store with KEYHOUSE_AUDIT=off: what the
    audit trail costs, measured in the same run."""
    quiet = serve_keyhouse(f"keyhouse-{backend}-unaudited", {**env, "KEYHOUSE_AUDIT": "off"}, work)
    try:
        _, action, version, params = read
        paths = [signed_path(ak, sk, action, version, params) for _ in range(count)]
        return measure(quiet, "keyhouse (b) without auditing", backend, paths, args)
    finally:
        quiet.stop()


def temporary_reads(
    server: Served, backend: str, ak: str, sk: str, peak: float, args: argparse.Namespace
) -> Row:
    """(a) with a temporary credential (STS AssumeRole), in turns with (a) with the long-term
    key on the same server, PAIRS times: what opening the token and checking the role cost on
    top of a long-term key's (a). The row is the median turn; its paired ratio, the median of
    the turns' throughput ratios."""
    account_id = _call(server.port, signed_path(ak, sk, "GetCallerIdentity", "2015-04-01"))[
        "AccountId"
    ]
    trust = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": [f"acs:ram::{account_id}:root"]},
    }
    document = json.dumps({"Version": "1", "Statement": [trust]})
    domain = _call(server.port, signed_path(ak, sk, "GetDefaultDomain", "2019-08-15"))[
        "DefaultDomainName"
    ]
    user = f"assumer@{domain}"
    for action, version, params in (
        (
            "CreateRole",
            "2015-05-01",
            {"RoleName": "bench-role", "AssumeRolePolicyDocument": document},
        ),
        ("CreateUser", "2019-08-15", {"UserPrincipalName": user, "DisplayName": "assumer"}),
        (
            "AttachPolicyToUser",
            "2015-05-01",
            {
                "UserName": "assumer",
                "PolicyName": "AliyunSTSAssumeRoleAccess",
                "PolicyType": "System",
            },
        ),
    ):
        _call(server.port, signed_path(ak, sk, action, version, params))
    key = _call(
        server.port,
        signed_path(ak, sk, "CreateAccessKey", "2019-08-15", {"UserPrincipalName": user}),
    )["AccessKey"]
    assumed = _call(
        server.port,
        signed_path(
            key["AccessKeyId"],
            key["AccessKeySecret"],
            "AssumeRole",
            "2015-04-01",
            {"RoleArn": f"acs:ram::{account_id}:role/bench-role", "RoleSessionName": "bench"},
        ),
    )["Credentials"]
    token = {"SecurityToken": assumed["SecurityToken"]}
    count = int(peak * 1.5 * (args.seconds + args.seconds // 5 + 2)) + 1000
    temporary, ratios = [], []
    for _ in range(PAIRS):
        long_term = measure(
            server,
            "  (a), long-term key, in turns",
            backend,
            [signed_path(ak, sk, "GetCallerIdentity", "2015-04-01") for _ in range(count)],
            args,
        )
        paths = [
            signed_path(
                assumed["AccessKeyId"],
                assumed["AccessKeySecret"],
                "GetCallerIdentity",
                "2015-04-01",
                token,
            )
            for _ in range(count)
        ]
        temporary.append(
            measure(server, "  (a), temporary credential, in turns", backend, paths, args)
        )
        ratios.append(temporary[-1].rps / long_term.rps)
    median = sorted(temporary, key=lambda r: r.rps)[len(temporary) // 2]
    ratio = statistics.median(ratios)
    print(
        f"  temporary ÷ long-term (a), {PAIRS} pairs in turns: {ratio:.2f} "
        f"(pairs: {', '.join(f'{r:.2f}' for r in ratios)})",
        flush=True,
    )
    return dataclasses.replace(
        median, scenario="keyhouse (a) with a temporary credential", paired_ratio=ratio
    )


def guarded_reads(
    server: Served, backend: str, ak: str, sk: str, upn: str, count: int, args: argparse.Namespace
) -> Row:
    """(b) again, by a RAM user whose permission comes from a custom policy (with a source
    address condition), while an account-wide network access policy is Active: what the
    access-control checks cost on top of the root's (b)."""
    account_id = _call(server.port, signed_path(ak, sk, "GetCallerIdentity", "2015-04-01"))[
        "AccountId"
    ]
    allow = {
        "Effect": "Allow",
        "Action": ["ram:List*", "ram:Get*"],
        "Resource": f"acs:ram:*:{account_id}:user/*",
        "Condition": {"IpAddress": {"acs:SourceIp": ["127.0.0.0/8", "10.0.0.0/8"]}},
    }
    deny = {"Effect": "Deny", "Action": "ram:Delete*", "Resource": "*"}
    document = json.dumps({"Version": "1", "Statement": [allow, deny]})
    steps: list[tuple[str, str, dict[str, str]]] = [
        ("CreatePolicy", "2015-05-01", {"PolicyName": "bench-read", "PolicyDocument": document}),
        (
            "CreateUser",
            "2019-08-15",
            {"UserPrincipalName": "guarded@" + upn.split("@")[1], "DisplayName": "guarded"},
        ),
        (
            "AttachPolicyToUser",
            "2015-05-01",
            {"UserName": "guarded", "PolicyName": "bench-read", "PolicyType": "Custom"},
        ),
    ]
    for action, version, params in steps:
        _call(server.port, signed_path(ak, sk, action, version, params))
    created = _call(
        server.port,
        signed_path(
            ak,
            sk,
            "CreateAccessKey",
            "2019-08-15",
            {"UserPrincipalName": "guarded@" + upn.split("@")[1]},
        ),
    )["AccessKey"]
    network = {
        "Version": 1,
        "Status": "Active",
        "Statements": [{"Type": "ClassicWhiteList", "IPList": ["127.0.0.1", "192.0.2.0/24"]}],
    }
    set_network = "SetAccessKeyPolicyForAccount"
    _call(
        server.port,
        signed_path(ak, sk, set_network, "2019-08-15", {"AccessKeyPolicy": json.dumps(network)}),
    )
    try:
        guarded_ak, guarded_sk = created["AccessKeyId"], created["AccessKeySecret"]
        paths = [
            signed_path(
                guarded_ak, guarded_sk, "ListAccessKeys", "2019-08-15", {"UserPrincipalName": upn}
            )
            for _ in range(count)
        ]
        return measure(server, "keyhouse (b) as a user with a policy", backend, paths, args)
    finally:
        network["Status"] = "Inactive"
        _call(
            server.port,
            signed_path(
                ak, sk, set_network, "2019-08-15", {"AccessKeyPolicy": json.dumps(network)}
            ),
        )


def purge_under_load(
    server: Served,
    backend: str,
    url: str,
    work: Path,
    env: dict[str, str],
    paths: list[str],
    rate: float,
    args: argparse.Namespace,
) -> Row:
    """Purge 100,000 expired binned keys (keyhouse purge) while (b) runs at half its peak."""
    import subprocess
    import threading

    from bench import dataset

    dataset.load_expired(url, work / f"{backend}.key", 100000)
    outcome: dict[str, float] = {}

    def purge() -> None:
        time.sleep(1.0)  # let the load settle first
        started = time.monotonic()
        subprocess.run(
            [python(), "-m", "keyhouse", "purge"],
            env=env,
            cwd=work,
            check=True,
            capture_output=True,
        )
        outcome["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=purge)
    worker.start()
    row = measure(
        server, "keyhouse (b) half rate, purging 100k", backend, paths, args, rate=rate, warm=False
    )
    worker.join()
    row.scenario = f"keyhouse (b) half rate, purge {outcome['seconds']:.1f} s"
    print(f"  purging 100,000 expired keys took {outcome['seconds']:.1f} s", flush=True)
    return row


def lifecycle_mix(
    server: Served, backend: str, ak: str, sk: str, domain: str, args: argparse.Namespace
) -> Row:
    """(c): 8 client processes, each cycling one user's pair through every lifecycle write."""
    from bench import mix

    users = []
    for i in range(8):
        upn = f"mix{i}@{domain}"
        created = _call(
            server.port,
            signed_path(
                ak, sk, "CreateUser", "2019-08-15", {"UserPrincipalName": upn, "DisplayName": "mix"}
            ),
        )
        users.append((upn, created["User"]["UserId"]))
    cpu_before = server.cpu_seconds()
    result = mix.run(server.port, ak, sk, users, args.seconds, CLIENT_CPU)
    cpu = server.cpu_seconds() - cpu_before
    lat = result.latencies_ms
    row = Row(
        "keyhouse (c) lifecycle write mix",
        backend,
        result.requests / result.seconds,
        lat[len(lat) // 2] if lat else 0.0,
        lat[int(len(lat) * 0.99)] if lat else 0.0,
        1000 * cpu / max(result.requests, 1),
        server.peak_rss_mb(),
        result.errors,
        -1.0,
        result.requests,
    )
    print(
        f"  {row.scenario:<38} {backend:<9} {row.rps:>9.0f} req/s  p50 {row.p50_ms:6.2f} ms  "
        f"p99 {row.p99_ms:7.2f} ms  cpu {row.cpu_ms_per_request:5.2f} ms/req  errors {row.errors}",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--no-large",
        dest="large",
        action="store_false",
        help="skip (d), the runs with 1,000,000 keys in the store",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="only the ceiling, moto, (a) and (b); the table goes to docs/benchmarks/quick.*",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(
            f"Keyhouse benchmark, {platform.node()}, {os.cpu_count()} cores; server on core "
            f"{SERVER_CPU}, wrk on core {CLIENT_CPU}; "
            f"{args.connections} connections, {args.seconds} s each"
        )
        rows += ceiling(args, work)
        top = max(r.rps for r in rows)
        rows.append(moto(args, work))
        if args.backend in {"sqlite", "both"}:
            rows += keyhouse(args, work, "sqlite", f"sqlite:///{work / 'k.db'}", top)
        if args.backend in {"postgres", "both"}:
            pg = _scratch_pg(args.pg)
            try:
                rows += keyhouse(args, work, "postgres", pg.url, top)
            finally:
                pg.drop()
    report(rows, args)


@dataclass
class _Pg:
    admin: str
    name: str

    @property
    def url(self) -> str:
        return self.admin.rsplit("/", 1)[0] + "/" + self.name

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (self.name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}"')


def _scratch_pg(admin: str) -> _Pg:
    import psycopg

    name = f"keyhouse_bench_{int(time.time())}"
    with psycopg.connect(admin.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _Pg(admin, name)


def report(rows: list[Row], args: argparse.Namespace) -> None:
    # Ratios are to the higher of the two ceilings, and to moto.
    ceiling_rps = max(r.rps for r in rows if r.scenario.startswith("ceiling"))
    moto_rps = next(r.rps for r in rows if r.scenario.startswith("moto"))
    print()
    print(
        f"{'scenario':<40} {'store':<9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>8} "
        f"{'cpu ms/req':>10} {'peak MB':>8} {'÷ceiling':>9} {'÷moto':>7} {'÷pair':>6}"
    )
    for r in rows:
        print(
            f"{r.scenario:<40} {r.backend:<9} {r.rps:>8.0f} {r.p50_ms:>7.2f} {r.p99_ms:>8.2f} "
            f"{r.cpu_ms_per_request:>10.3f} {r.peak_rss_mb:>8.1f} {r.rps / ceiling_rps:>9.2f} "
            f"{r.rps / moto_rps:>7.1f} "
            + (f"{r.paired_ratio:>6.2f}" if r.paired_ratio is not None else f"{'':>6}")
        )
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {
        "taken": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "node": platform.node(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "settings": {"seconds": args.seconds, "connections": args.connections},
        "rows": [
            dict(asdict(r), ratio_ceiling=r.rps / ceiling_rps, ratio_moto=r.rps / moto_rps)
            for r in rows
        ],
    }
    name = "quick" if args.quick else "latest"
    (OUT / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    plot(rows, OUT / f"{name}.png")
    print(f"\nwrote {OUT / name}.json and {OUT / name}.png")


def plot(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.scenario}\n{r.backend}" if r.backend != "-" else r.scenario for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(rows) + 1.5))
    ax.barh(labels[::-1], [r.rps for r in rows][::-1], color="#4a7ab5")
    ax.set_xscale("log")
    ax.set_xlabel("requests per second, log scale (server on one core)")
    ax.set_title("Keyhouse against a bare ASGI ceiling and moto")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
