"""The operator's commands on single AccessKey pairs of any account: leak protection, who
owns a key, who still uses a disabled one, and scanning files for leaked pairs. Each command on
a known key leaves one event in the key's account's trail, naming the operator."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from keyhouse.cli.common import (
    EXIT_CONFIG,
    EXIT_DOMAIN,
    acting,
    database_option,
    fail,
    load,
    open_services,
    store_name,
    table,
)
from keyhouse.clock import format_date
from keyhouse.config import Settings
from keyhouse.domain.actions import Command
from keyhouse.services.registry import Services
from keyhouse.services.trail.lookup import former_key, signed_with


@click.group()
def key() -> None:
    """Operate on one AccessKey pair (any account)."""


def account_of(
    svc: Services,
    settings: Settings,
    access_key_id: str,
    *,
    live: bool,
    history: list[tuple[str, dict[str, Any]]] | None = None,
) -> str:
    """The account the key belongs to: from the store, or (unless ``live``) from the trail
    of a purged key (``history``: the key's events, when the caller has read them already).
    Exit 1 when neither knows it."""
    owner = svc.keys.whose(access_key_id)
    if owner is not None:
        return owner.key.account_id
    if not live:
        # A refused attempt with a purged key is in the trail of no account: the account is
        # the one whose trail names the key.
        if history is None:
            history = svc.trail.history(access_key_id)
        former = former_key(access_key_id, history)
        if former is not None:
            return former.account_id
    if live:
        fail(EXIT_DOMAIN, f"no AccessKey {access_key_id} in {store_name(settings)}")
    fail(EXIT_DOMAIN, f"{access_key_id} is unknown to {store_name(settings)} and its audit trail")


def _protect(svc: Services, account_id: str, access_key_id: str, reason: str | None) -> None:
    what = Command.ProtectAccessKey if reason is not None else Command.UnprotectAccessKey
    params = {"UserAccessKeyId": access_key_id}
    if reason is not None:
        params["Reason"] = reason
    with acting(svc, account_id, what, params) as who:
        svc.keys.protect(who, access_key_id, reason)


@key.command("protect")
@click.argument("access_key_id")
@click.option("--reason", required=True, help="Why the pair is suspected of leaking.")
@database_option
def key_protect(access_key_id: str, reason: str, database_url: str | None) -> None:
    """Refuse every write-level action signed with the pair (reads still work)."""
    if not reason.strip() or len(reason) > 256:
        fail(EXIT_CONFIG, "--reason must be 1 to 256 characters")
    settings = load(database_url=database_url)
    with open_services(settings) as svc:
        account_id = account_of(svc, settings, access_key_id, live=True)
        _protect(svc, account_id, access_key_id, reason.strip())
    click.echo(f"{access_key_id} is under leak protection: write-level actions are refused.")


@key.command("unprotect")
@click.argument("access_key_id")
@database_option
def key_unprotect(access_key_id: str, database_url: str | None) -> None:
    """Lift leak protection from the pair."""
    settings = load(database_url=database_url)
    with open_services(settings) as svc:
        account_id = account_of(svc, settings, access_key_id, live=True)
        _protect(svc, account_id, access_key_id, None)
    click.echo(f"{access_key_id} is no longer under leak protection.")


@key.command("attempts")
@click.argument("access_key_id")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON lines.")
@database_option
def key_attempts(access_key_id: str, as_json: bool, database_url: str | None) -> None:
    """Who still tries to use a disabled, binned or purged pair: time, address, action."""
    settings = load(database_url=database_url)
    with open_services(settings) as svc:
        svc.audit.flush()
        account_id = account_of(svc, settings, access_key_id, live=False)
        params = {"UserAccessKeyId": access_key_id}
        with acting(svc, account_id, Command.ListAccessKeyAttempts, params):
            found = svc.trail.attempts(access_key_id)
    if as_json:
        for event in found:
            click.echo(json.dumps(event, sort_keys=True))
        return
    if not found:
        click.echo(f"No refused attempts with {access_key_id} are recorded.")
        return
    table(
        ("TIME", "SOURCE", "ACTION", "REFUSED WITH", "USER AGENT"),
        [
            (
                e["eventTime"],
                e["sourceIpAddress"],
                e["eventName"],
                e["errorCode"],
                e["userAgent"][:40],
            )
            for e in found
        ],
    )


@click.command()
@click.argument("access_key_id")
@database_option
def whois(access_key_id: str, database_url: str | None) -> None:
    """Whose AccessKey is this? Live, binned and purged keys (purged ones from the trail)."""
    settings = load(database_url=database_url)
    with open_services(settings) as svc:
        svc.audit.flush()
        history = svc.trail.history(access_key_id)
        account_id = account_of(svc, settings, access_key_id, live=False, history=history)
        names = {a.account_id: a.name for a in svc.accounts.all()}
        with acting(svc, account_id, Command.WhoIs, {"UserAccessKeyId": access_key_id}):
            found = svc.keys.whose(access_key_id)
    used = [e for _, e in history if not e.get("errorCode") and signed_with(e, access_key_id)]
    tried = [e for _, e in history if e.get("errorCode") and signed_with(e, access_key_id)]
    where = used[0]["sourceIpAddress"] if used else "never seen"
    minted = _minted(history, access_key_id)
    if found is None and minted is not None:
        chain = _chain(svc, minted)
        _temporary(access_key_id, minted, names.get(account_id, account_id), used, where, chain)
        return
    if found is not None:
        k = found.key
        status = "in recycle bin" if k.in_bin else k.status.value
        rows = [
            ("AccessKeyId", access_key_id),
            ("Account", f"{found.account_name} ({k.account_id})"),
            ("User", found.user_name or "(account root)"),
            ("Status", status + (" (under leak protection)" if found.protected else "")),
            ("Created", format_date(k.created_at)),
            (
                "Last used",
                f"{format_date(k.last_used_at)} ({k.last_used_service})"
                if k.last_used_at
                else "never",
            ),
            ("Last used from", where),
        ]
    else:
        former = former_key(access_key_id, history)
        owner = "(unknown)"
        if former is not None and former.owner is not None:
            owner = former.owner or "(account root)"
        purged_at = former.purged_at if former is not None else None
        created_at = former.created_at if former is not None else None
        rows = [
            ("AccessKeyId", access_key_id),
            ("Account", f"{names.get(account_id, '(deleted account)')} ({account_id})"),
            ("User", owner),
            ("Status", "purged" + (f" at {purged_at}" if purged_at else "")),
            ("Created", created_at or "(before the trail)"),
            ("Last used", used[0]["eventTime"] if used else "never (in the trail)"),
            ("Last used from", where),
        ]
    if tried:
        last = tried[0]
        rows.append(
            (
                "Last refused",
                f"{last['eventTime']} from {last['sourceIpAddress']} "
                f"({last['eventName']}: {last['errorCode']})",
            )
        )
    _aligned(rows)


def _aligned(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for label, value in rows:
        click.echo(f"{label.ljust(width)}  {value}")


def _minted(history: list[tuple[str, dict[str, Any]]], access_key_id: str) -> dict[str, Any] | None:
    """The AssumeRole event that minted the temporary key, if the trail holds it."""
    for _, event in history:
        if (
            event["eventName"] == "AssumeRole"
            and (event.get("responseElements") or {}).get("AccessKeyId") == access_key_id
        ):
            return event
    return None


CHAIN_DEPTH = 16  # a chain is capped in time (keyhouse.services.sts); this bounds the walk too


def _chain(svc: Services, event: dict[str, Any]) -> list[tuple[str, str]]:
    """Each temporary key that assumed a role on the way to ``event``, back to the long-term
    key that started the chain: (label, who with which key)."""
    rows: list[tuple[str, str]] = []
    by = event["userIdentity"].get("accessKeyId") or ""
    while by.startswith("STS.") and len(rows) < CHAIN_DEPTH:
        before = _minted(svc.trail.history(by, limit=200), by)
        if before is None:
            rows.append(("  which was", f"{by}, minted before the trail"))
            break
        asked, who = before["requestParameters"], before["userIdentity"]
        by = who.get("accessKeyId") or ""
        rows.append(
            (
                "  which was",
                f"{asked.get('RoleArn', '')}/{asked.get('RoleSessionName', '')} "
                f"assumed by {who.get('userName') or '?'} with {by or '?'} "
                f"at {before['eventTime']}",
            )
        )
    if rows and not by.startswith("STS."):
        rows.append(("Long-term key", by))
    return rows


def _temporary(
    access_key_id: str,
    event: dict[str, Any],
    account: str,
    used: list[dict[str, Any]],
    where: str,
    chain: list[tuple[str, str]],
) -> None:
    """A temporary credential, from the AssumeRole event that minted it, and the chain of
    sessions back to the long-term key when it was assumed by another temporary key."""
    asked, given, by = event["requestParameters"], event["responseElements"], event["userIdentity"]
    rows = [
        ("AccessKeyId", f"{access_key_id} (temporary: STS AssumeRole)"),
        ("Account", account),
        ("Role", asked.get("RoleArn", "")),
        ("Session", asked.get("RoleSessionName", "")),
        ("Assumed by", f"{by.get('userName') or '?'} with {by.get('accessKeyId') or '?'}"),
        *chain,
        ("Assumed at", event["eventTime"]),
        ("Expires", given.get("Expiration", "")),
        ("Last used", used[0]["eventTime"] if used else "never (in the trail)"),
        ("Last used from", where),
    ]
    _aligned(rows)


def _sources(paths: tuple[str, ...]) -> Iterator[tuple[str, list[str]]]:
    for given in paths:
        if given == "-":
            yield "-", sys.stdin.read().splitlines()
            continue
        path = Path(given)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            try:
                with file.open("rb") as handle:
                    data = handle.read()
            except OSError as exc:
                fail(EXIT_CONFIG, f"cannot read {file}: {exc.strerror}")
            if b"\0" in data[:8192]:
                continue  # binary
            yield str(file), data.decode("utf-8", "replace").splitlines()


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print findings as a JSON list.")
@click.option("--protect", is_flag=True, help="Put every confirmed key under leak protection.")
@database_option
def scan(paths: tuple[str, ...], as_json: bool, protect: bool, database_url: str | None) -> None:
    """Find AccessKey IDs (and their secrets) in files, directories or stdin (-).

    Exits 1 when a confirmed leak (an ID with its matching secret) is found. Never prints a
    secret."""
    with open_services(load(database_url=database_url)) as svc:
        findings = [f for name, lines in _sources(paths) for f in svc.leaks.scan(name, lines)]
        if protect:
            protected = set()
            for finding in findings:
                if finding.confirmed and finding.access_key_id not in protected:
                    owner = svc.keys.whose(finding.access_key_id)
                    if owner is None:
                        continue
                    reason = f"confirmed leak found by keyhouse scan in {finding.source}"
                    _protect(svc, owner.key.account_id, finding.access_key_id, reason[:256])
                    protected.add(finding.access_key_id)
            findings = [
                dataclasses.replace(f, protected=f.protected or f.access_key_id in protected)
                for f in findings
            ]
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in findings], indent=2))
    else:
        _print_findings(findings)
    if any(f.confirmed for f in findings):
        sys.exit(1)


def _print_findings(findings: list[Any]) -> None:
    if not findings:
        click.echo("No AccessKey IDs found.")
        return
    rows = [
        (
            f"{f.source}:{f.line}",
            f.access_key_id,
            f.owner or "(not in this store)",
            f.status,
            ("CONFIRMED" if f.confirmed else "suspect") + (" (protected)" if f.protected else ""),
        )
        for f in findings
    ]
    table(("WHERE", "ACCESS KEY ID", "OWNER", "STATUS", "FINDING"), rows)
