"""Metrics and logs of a real server: Prometheus figures at ``/metrics`` (or on a port of their
own), and one log format, JSON lines here, with one line per API and console request that
names its request ID, action, principal, code and latency, and never a secret or a signature.
Both backends."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration import raw
from tests.integration.browserless import ConsoleClient
from tests.integration.conftest import upn
from tests.integration.sdk import Api, ApiError
from tests.integration.server import Server, free_port
from tests.integration.steps import make_key, make_user

STS = "2015-04-01"
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "keyhouse.json"


def _server(
    backend: str, workdir: Path, request: pytest.FixtureRequest, *args: str, **env: str
) -> Server:
    url = (
        f"sqlite:///{workdir / 'k.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("fresh_pg")
    )
    return Server(url, workdir / "master.key", workdir, extra_env=env, extra_args=args)


@pytest.fixture
def observed(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = _server(backend, tmp_path, request, "--log-format", "json", KEYHOUSE_METRICS="on")
    yield srv.start()
    srv.stop()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, by name and labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_and_json_logs_tell_what_each_request_did(observed: Server) -> None:
    account = observed.create_account("observed")
    root = Api("v3", observed.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    make_user(root, account, "alice")
    key = make_key(root, upn(account, "alice"))
    alice = Api("v2", observed.endpoint, key["AccessKeyId"], key["AccessKeySecret"])
    answered = [alice.sts("GetCallerIdentity")["RequestId"] for _ in range(3)]
    forged = raw.rpc_query(key["AccessKeyId"], "not-the-secret", "GetCallerIdentity", STS)
    status, refused = raw.post_rpc(observed.endpoint, forged)
    assert (status, refused["Code"]) == (400, "SignatureDoesNotMatch")
    with pytest.raises(ApiError):
        alice.ram("CreateUser", UserName="bob")  # NoPermission
    status, _ = _get(f"http://{observed.endpoint}/console/signin")
    assert status == 200

    status, text = _get(f"http://{observed.endpoint}/metrics")
    assert status == 200
    samples = _samples(text)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("keyhouse_requests_total", action="GetCallerIdentity", code="OK") == 3
    assert value("keyhouse_requests_total", action="CreateAccessKey", code="OK") == 1
    assert value("keyhouse_requests_total", action="CreateUser", code="NoPermission") == 1
    assert (
        value("keyhouse_requests_total", action="GetCallerIdentity", code="SignatureDoesNotMatch")
        == 1
    )
    assert value("keyhouse_auth_failures_total", reason="signature_mismatch") == 1
    assert value("keyhouse_request_duration_seconds_count", action="GetCallerIdentity") == 4
    assert value("keyhouse_console_requests_total", method="GET", status="2xx") >= 1
    assert value("keyhouse_commit_batch_size_count") >= 1
    assert value("keyhouse_commit_duration_seconds_count") >= 1
    # The reads' and the refusals' events (the changes' commit in their own transactions).
    assert value("keyhouse_committed_items_total") == 5
    assert value("keyhouse_audit_events_set_aside_total") == 0
    assert value("keyhouse_trail_writable") == 1
    assert value("keyhouse_cache_hits_total") + value("keyhouse_cache_misses_total") > 0
    assert ("keyhouse_commit_queue_depth", ()) in samples
    assert ("keyhouse_sweep_runs_total", ()) in samples
    assert ("keyhouse_store_errors_total", (("where", "commit"),)) not in samples
    # Every metric the Grafana dashboard in deploy/ draws is one the server exports.
    exported = set(re.findall(r"^# HELP (\S+)", text, re.M))
    drawn = set(re.findall(r"\b(?:keyhouse|process)_[a-z_]+", DASHBOARD.read_text()))
    assert drawn and {re.sub(r"_(bucket|count|sum)$", "", n) for n in drawn} <= exported
    # Nothing per key, per account, or secret.
    for never in (key["AccessKeyId"], key["AccessKeySecret"], account["AccountId"], "alice"):
        assert never not in text

    observed.stop()
    lines = observed.stderr_path.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"uvicorn.error", "keyhouse.request"} <= {r["logger"] for r in records}
    requests = {r["request_id"]: r for r in records if r["message"] == "request"}
    for request_id in answered:
        line = requests[request_id]
        assert line["surface"] == "api"
        assert line["action"] == "GetCallerIdentity"
        assert line["principal"] == f"user:{account['AccountId']}/alice"
        assert line["key"] == key["AccessKeyId"]
        assert (line["status"], line["code"]) == (200, "OK")
        assert isinstance(line["ms"], float | int) and line["ms"] >= 0
    line = requests[refused["RequestId"]]
    assert (line["status"], line["code"], line["principal"]) == (
        400,
        "SignatureDoesNotMatch",
        "-",
    )
    console = [r for r in records if r.get("surface") == "console"]
    assert any(r["path"] == "/console/signin" and r["status"] == 200 for r in console)
    everything = observed.logs().replace(*observed.bootstrap_credentials())
    assert key["AccessKeySecret"] not in everything
    assert forged["Signature"] not in everything


def test_a_console_change_is_logged_with_its_event(observed: Server) -> None:
    observed.create_account("owner")
    observed.cli("account", "set-password", "--name", "owner", input="Owner-Passw0rd\n")
    signed_in = ConsoleClient(observed.endpoint).sign_in("owner", "Owner-Passw0rd")
    assert signed_in.status == 303
    observed.stop()
    records = [json.loads(line) for line in observed.stderr_path.read_text().splitlines()]
    signins = [r for r in records if r.get("action") == "ConsoleSignin"]
    assert signins and signins[0]["surface"] == "console"
    assert signins[0]["principal"].startswith("root:")
    assert signins[0]["request_id"] != "-"
    assert "Owner-Passw0rd" not in observed.logs()


def test_metrics_are_off_unless_asked_for_and_may_have_a_port_of_their_own(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    port = free_port()
    srv = _server(backend, tmp_path, request, "--metrics-port", str(port)).start()
    try:
        status, _ = _get(f"http://{srv.endpoint}/metrics")
        assert status == 404  # not on the API's port
        status, text = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "keyhouse_requests_total" in text
        # The text format by default: one human-readable line per record.
        first = srv.stderr_path.read_text().splitlines()[0]
        assert " INFO uvicorn.error " in first and not first.startswith("{")
    finally:
        srv.stop()


def test_metrics_with_several_workers_are_refused(server: Server) -> None:
    ran = server.cli("serve", "--workers", "2", "--metrics-port", "9", check=False)
    assert ran.returncode == 2 and "one worker" in ran.stderr
