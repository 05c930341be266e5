"""(c) The lifecycle mix: writes that depend on each other, driven by client processes.

Each client owns a user and loops: create a pair, disable it, delete it into the bin, restore
it, disable it, delete it again, purge it from the bin: seven signed writes per round.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import time
from dataclasses import dataclass

from bench.signer import signed_path

IMS = "2019-08-15"


@dataclass
class MixResult:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int


def _client(
    port: int,
    ak: str,
    sk: str,
    upn: str,
    user_id: str,
    seconds: float,
    cpu: int,
    out: multiprocessing.Queue,
) -> None:  # type: ignore[type-arg]
    os.sched_setaffinity(0, {cpu})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(action: str, params: dict[str, str]) -> dict[str, object]:
        start = time.perf_counter()
        conn.request(
            "POST", signed_path(ak, sk, action, IMS, params), headers={"Host": f"127.0.0.1:{port}"}
        )
        reply = conn.getresponse()
        body = json.loads(reply.read())
        latencies.append((time.perf_counter() - start) * 1000)
        if reply.status != 200:
            raise RuntimeError(body)
        return body  # type: ignore[no-any-return]

    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    while time.monotonic() < deadline:
        try:
            key = call("CreateAccessKey", {"UserPrincipalName": upn})["AccessKey"]["AccessKeyId"]  # type: ignore[index]
            both = {"UserPrincipalName": upn, "UserAccessKeyId": key}
            call("UpdateAccessKey", {**both, "Status": "Inactive"})
            call("DeleteAccessKey", both)
            call("RestoreAccessKeyFromRecycleBin", {"UserId": user_id, "UserAccessKeyId": key})
            call("UpdateAccessKey", {**both, "Status": "Inactive"})
            call("DeleteAccessKey", both)
            call("DeleteAccessKeyInRecycleBin", {"UserId": user_id, "UserAccessKeyId": key})
        except RuntimeError:
            errors += 1
    out.put((len(latencies), time.monotonic() - started, latencies, errors))


def run(
    port: int, ak: str, sk: str, users: list[tuple[str, str]], seconds: float, cpu: int
) -> MixResult:
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [
        multiprocessing.Process(target=_client, args=(port, ak, sk, upn, uid, seconds, cpu, queue))
        for upn, uid in users
    ]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(lat for r in results for lat in r[2])
    return MixResult(
        sum(r[0] for r in results),
        max(r[1] for r in results),
        latencies,
        sum(r[3] for r in results),
    )
