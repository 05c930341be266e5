"""Driving wrk (Debian's) with a file of requests, and reading what it measured."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_LUA = """
local paths = {}
local i = 0
local headers = {}
local body = ""
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  for line in io.lines(args[2]) do
    local name, value = line:match("^([^:]+): (.*)$")
    if name then headers[name] = value end
  end
  local f = io.open(args[3], "r")
  body = f:read("*a")
  f:close()
end
function request()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("POST", paths[i], headers, body)
end
DELAY
function done(summary, latency, requests)
  local p50, p99 = latency:percentile(50), latency:percentile(99)
  io.write(string.format("P50_US %d\\nP99_US %d\\n", p50, p99))
end
"""


# Each request its own method, path and headers (an ACS3 signature is in the headers): one
# line per request, "METHOD<TAB>PATH<TAB>Name: value<TAB>...".
_LUA_REQUESTS = """
local requests = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    local fields = {}
    for field in line:gmatch("[^\t]+") do fields[#fields + 1] = field end
    local headers = {}
    for k = 3, #fields do
      local name, value = fields[k]:match("^([^:]+): (.*)$")
      if name then headers[name] = value end
    end
    requests[#requests + 1] = {fields[1], fields[2], headers}
  end
end
function request()
  i = i + 1
  if i > #requests then i = 1 end
  local r = requests[i]
  return wrk.format(r[1], r[2], r[3], "")
end
DELAY
function done(summary, latency, requests)
  local p50, p99 = latency:percentile(50), latency:percentile(99)
  io.write(string.format("P50_US %d\\nP99_US %d\\n", p50, p99))
end
"""

Request = tuple[str, str, dict[str, str]]  # method, path, headers (Host included)


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx responses plus socket errors
    generator_cpu: float  # wrk's CPU seconds per wall second (1.0 = its core was saturated)


def run(
    host: str,
    port: int,
    paths: list[str],
    *,
    seconds: int,
    connections: int,
    cpu: int,
    rate: float | None = None,
    headers: dict[str, str] | None = None,
    body: str = "",
    requests: list[Request] | None = None,
) -> WrkResult:
    """Send ``paths`` round-robin for ``seconds``; with ``rate``, pace to about that many req/s.
    With ``requests``, each request's own method, path and headers instead (no body)."""
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "paths.txt"
        if requests is not None:
            listing.write_text(
                "".join(
                    "\t".join([m, p, *(f"{_name(k)}: {v}" for k, v in h.items())]) + "\n"
                    for m, p, h in requests
                )
            )
        else:
            listing.write_text("\n".join(paths) + "\n")
        header_file = Path(tmp) / "headers.txt"
        sent = {"Host": f"{host}:{port}", **(headers or {})}
        header_file.write_text("".join(f"{k}: {v}\n" for k, v in sent.items()))
        body_file = Path(tmp) / "body.txt"
        body_file.write_text(body)
        delay = ""
        if rate:
            # Exponential think times (Poisson arrivals per connection): a fixed delay lines
            # the connections up into bursts of 64 that arrive together, which measures the
            # burst, not the rate.
            mean = connections * 1000.0 / rate
            delay = (
                "math.randomseed(os.time())\n"
                f"function delay() return -math.log(1 - math.random()) * {mean:.3f} end"
            )
        script = Path(tmp) / "load.lua"
        script.write_text((_LUA_REQUESTS if requests is not None else _LUA).replace("DELAY", delay))
        cmd = [
            "taskset",
            "-c",
            str(cpu),
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{host}:{port}/",
            "--",
            str(listing),
            str(header_file),
            str(body_file),
        ]
        before = _children_cpu()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        wrk_cpu = _children_cpu() - before
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    assert total, out
    duration = float(total.group(2)) * {"s": 1, "ms": 0.001, "m": 60}[total.group(3)]
    requests = int(total.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(g) for g in sock.groups()) if sock else 0
    )
    p50 = re.search(r"P50_US (\d+)", out)
    p99 = re.search(r"P99_US (\d+)", out)
    assert p50 and p99, out
    return WrkResult(
        requests,
        duration,
        requests / duration,
        int(p50.group(1)) / 1000,
        int(p99.group(1)) / 1000,
        errors,
        wrk_cpu / duration,
    )


def _name(header: str) -> str:
    """wrk adds a Host header of its own unless one is spelt exactly so."""
    return "Host" if header.lower() == "host" else header


def _children_cpu() -> float:
    import os

    t = os.times()
    return t.children_user + t.children_system
