"""The request path without the HTTP server: `python -m bench.inproc [--action ListAccessKeys]`.

Builds Keyhouse on a fresh SQLite store in this process, starts its group committer, and calls
the ASGI application directly from 64 concurrent tasks on one event loop (uvloop, as the server
runs), each request signed with its own nonce. Prints the CPU per request of the event loop's
thread and of the other threads (the committer) apart, from the kernel's per-thread counters,
so a change to the request path can be measured in seconds without wrk, uvicorn or a profiler.
``--profile`` adds cProfile's top functions of the event loop's thread.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.signer import signed_path, v3_headers

_TICKS = os.sysconf("SC_CLK_TCK")


def _thread_seconds() -> dict[int, float]:
    """user + system CPU seconds of each of this process's threads."""
    seconds = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[int(tid)] = (int(fields[11]) + int(fields[12])) / _TICKS
    return seconds


_HEADERS = {"host": "127.0.0.1:8080", "user-agent": "wrk"}


async def _call(
    app: Any, path: str, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, bytes]:
    parts = urlsplit(path)
    scope = {
        "type": "http",
        "method": method,
        "path": parts.path,
        "query_string": parts.query.encode(),
        "headers": [(k.encode(), v.encode()) for k, v in (headers or _HEADERS).items()],
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


async def _gateway_requests(
    app: Any, ak: str, sk: str, domain: str, count: int
) -> list[tuple[str, dict[str, str] | None, str]]:
    """A protected service, a gateway user and a caller with policies of their own, and
    ``count`` questions as nginx asks them (the request signed anew each time)."""
    routes = [{"Method": "GET", "Path": "/orders/{id}", "Action": "orders:GetOrder"}]
    await _call(
        app,
        signed_path(
            ak,
            sk,
            "CreateService",
            "2019-08-15",
            {"ServiceName": "orders", "Routes": orjson.dumps(routes).decode()},
        ),
    )
    pairs = []
    for name, action in (("gateway", "keyhouse:VerifyRequest"), ("caller", "orders:Get*")):
        upn = f"{name}@{domain}"
        await _call(
            app,
            signed_path(
                ak, sk, "CreateUser", "2019-08-15", {"UserPrincipalName": upn, "DisplayName": name}
            ),
        )
        document = {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
        }
        await _call(
            app,
            signed_path(
                ak,
                sk,
                "CreatePolicy",
                "2015-05-01",
                {"PolicyName": f"{name}-p", "PolicyDocument": orjson.dumps(document).decode()},
            ),
        )
        await _call(
            app,
            signed_path(
                ak,
                sk,
                "AttachPolicyToUser",
                "2015-05-01",
                {"PolicyName": f"{name}-p", "PolicyType": "Custom", "UserName": name},
            ),
        )
        _, body = await _call(
            app, signed_path(ak, sk, "CreateAccessKey", "2019-08-15", {"UserPrincipalName": upn})
        )
        key = orjson.loads(body)["AccessKey"]
        pairs.append((key["AccessKeyId"], key["AccessKeySecret"]))
    (gak, gsk), (cak, csk) = pairs
    found: list[tuple[str, dict[str, str] | None, str]] = []
    for n in range(count):
        path = f"/orders/{n % 1000}"
        headers = v3_headers(
            "127.0.0.1:9000", cak, csk, "GetOrder", "2024-01-01", {}, method="GET", path=path
        )
        headers.update(
            {
                "host": "127.0.0.1:8080",
                "user-agent": "wrk",
                "x-forwarded-method": "GET",
                "x-forwarded-uri": path,
                "x-forwarded-host": "127.0.0.1:9000",
                "x-keyhouse-service": "orders",
                "x-keyhouse-gateway": f"{gak}:{gsk}",
            }
        )
        found.append(("/gateway/verify", headers, "GET"))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--action", default="GetCallerIdentity")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--audit", default="on", choices=["on", "off"])
    parser.add_argument("--lane", default="on", choices=["on", "off"])
    args = parser.parse_args()

    import uvloop

    from keyhouse.app import build_app, build_services
    from keyhouse.cli.serve import _bootstrap
    from keyhouse.config import Settings
    from keyhouse.logs import configure

    work = Path(tempfile.mkdtemp(prefix="keyhouse-inproc-"))
    log = (work / "server.log").open("w")
    configure("info", "text", log)
    settings = Settings(
        database_url=f"sqlite:///{work / 'keyhouse.db'}",
        master_key_file=work / "master.key",
        audit=args.audit == "on",
        hot_lane=args.lane == "on",
    )
    services = build_services(settings)
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _bootstrap(services, settings)
    text = out.getvalue()
    ak = text.split("AccessKeyId:")[1].split()[0]
    sk = text.split("AccessKeySecret:")[1].split()[0]
    app = build_app(settings, services)
    app.on_startup()

    async def run() -> None:
        _, body = await _call(app, signed_path(ak, sk, "GetDefaultDomain", "2019-08-15"))
        domain = orjson.loads(body)["DefaultDomainName"]
        upn = f"bench@{domain}"
        await _call(
            app,
            signed_path(
                ak,
                sk,
                "CreateUser",
                "2019-08-15",
                {"UserPrincipalName": upn, "DisplayName": "bench"},
            ),
        )
        _, body = await _call(
            app, signed_path(ak, sk, "CreateAccessKey", "2019-08-15", {"UserPrincipalName": upn})
        )
        assert b"AccessKey" in body, body
        created = orjson.loads(body)["AccessKey"]
        Request = tuple[str, dict[str, str] | None, str]
        paths: list[Request]
        if args.action == "VerifyRequest":
            paths = await _gateway_requests(app, ak, sk, domain, args.requests + 2000)
        elif args.action == "GetCallerIdentity":
            paths = [
                (
                    signed_path(
                        created["AccessKeyId"],
                        created["AccessKeySecret"],
                        args.action,
                        "2015-04-01",
                    ),
                    None,
                    "POST",
                )
                for _ in range(args.requests + 2000)
            ]
        else:
            paths = [
                (
                    signed_path(ak, sk, args.action, "2019-08-15", {"UserPrincipalName": upn}),
                    None,
                    "POST",
                )
                for _ in range(args.requests + 2000)
            ]
        queue = list(reversed(paths))

        async def worker() -> None:
            while queue:
                path, headers, method = queue.pop()
                status, body = await _call(app, path, headers, method)
                if status != 200:
                    raise SystemExit(f"{status}: {body!r}")

        warm, queue[:] = queue[-2000:], queue[:-2000]
        saved, queue[:] = queue[:], warm
        await asyncio.gather(*(worker() for _ in range(64)))
        queue[:] = saved
        loop_tid = threading.get_native_id()
        before = _thread_seconds()
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        await asyncio.gather(*(worker() for _ in range(64)))
        if profiler:
            profiler.disable()
        took = time.perf_counter() - started
        after = _thread_seconds()
        loop = after.get(loop_tid, 0) - before.get(loop_tid, 0)
        others = sum(v - before.get(t, 0) for t, v in after.items() if t != loop_tid)
        n = args.requests
        print(
            f"{args.action}: {n / took:,.0f} req/s in process; CPU µs per request: "
            f"event loop {loop / n * 1e6:.1f}, other threads {others / n * 1e6:.1f}, "
            f"total {(loop + others) / n * 1e6:.1f}"
        )
        if profiler:
            stats = pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "tottime"))
            stats.print_stats(int(os.environ.get("TOP", "35")))

    uvloop.run(run())
    app.on_shutdown()


if __name__ == "__main__":
    main()
