"""The fuzz targets (fuzz/, atheris) run briefly here, each in its own process; ``python -m
fuzz`` runs them for 10^6 executions each. And what fuzzing found, kept as cases: each was a
TypeError, a RecursionError or a ValueError, a 500 on the wire, before it was mended."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from keyhouse.api import wire
from keyhouse.domain import netpolicy, trust
from keyhouse.domain.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("authorization", "request", "timestamps", "policy", "network-policy", "trust-policy")


@pytest.mark.parametrize("target", TARGETS)
def test_a_brief_fuzzing_run_finds_nothing(target: str, tmp_path: Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "fuzz", target, "--runs", "5000"],
        cwd=tmp_path,  # where libFuzzer would leave a crash-* input
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-4000:]
    assert f"fuzz {target}: 5000 runs" in ran.stdout
    assert not list(tmp_path.glob("crash-*"))


@pytest.mark.parametrize(
    "document",
    [
        '{"Version": 1, "Status": "Active", "Statements": [{"Type": ["1.2.3.4"]}]}',
        '{"Version": 1, "Status": ["Active"], "Statements": []}',
        '{"Version": 1, "Status": {"a": 1}, "Statements": []}',
    ],
)
def test_network_policies_with_lists_where_names_belong_are_refused(document: str) -> None:
    with pytest.raises(DomainError):
        netpolicy.parse(document)


@pytest.mark.parametrize(
    "document",
    [
        '{"Version": "1", "Statement": [{"Effect": ["Allow"], "Action": "sts:AssumeRole"}]}',
        "[" * 2000 + "]" * 2000,
        '{"Version": "1", "Statement": ' + "[" * 1500 + "]" * 1500 + "}",
    ],
)
def test_trust_policies_nested_deep_or_with_lists_for_names_are_refused(document: str) -> None:
    with pytest.raises(DomainError):
        trust.parse(document)


@pytest.mark.parametrize(
    "stamp", ["2026-12-00T16:19:49Z", "2026-02-30T00:00:00Z", "2026-12-01T25:00:00Z"]
)
def test_a_timestamp_of_a_day_or_hour_that_does_not_exist_is_refused(stamp: str) -> None:
    with pytest.raises(DomainError) as refused:
        wire._timestamp(stamp)
    assert refused.value.code == "auth.timestamp_format"
