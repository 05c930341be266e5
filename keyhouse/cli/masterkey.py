"""``keyhouse master-key``: rotate the master key while the service runs, re-seal, retire."""

from __future__ import annotations

import time

import click

from keyhouse.cli.common import EXIT_CONFIG, EXIT_DOMAIN, database_option, fail, load, open_services
from keyhouse.clock import format_date
from keyhouse.config import Settings
from keyhouse.crypto import MasterKey, read_key_file, write_key_file
from keyhouse.domain.rules import MAX_SESSION_DURATION
from keyhouse.services.masterkeys import BATCH, Resealed

# How long servers take to see a new key file (they look once a second), with room to spare:
# secrets sealed before they see it are re-sealed by the next pass anyway.
SETTLE = 2.5


@click.group("master-key")
def master_key() -> None:
    """Rotate the master key that seals the stored secrets."""


def _key_file(settings: Settings) -> list[MasterKey]:
    if settings.master_key:
        fail(
            EXIT_CONFIG,
            "the keyring comes from KEYHOUSE_MASTER_KEY, which this command cannot change: put "
            "a new key first in it on every instance, restart them, then run "
            "`keyhouse master-key reseal`",
        )
    keys = read_key_file(settings.key_file_path())
    if not keys:
        fail(EXIT_CONFIG, f"no master key file at {settings.key_file_path()}")
    return keys


def _report(done: Resealed, sealing: str) -> None:
    click.echo(f"re-sealed {done.resealed} secrets under {sealing} in {done.batches} batches")
    for key_id, count in sorted(done.remaining.items()):
        click.echo(f"  {key_id}: {count} secrets" + ("  (sealing)" if key_id == sealing else ""))


@master_key.command("rotate")
@click.option("--batch", default=BATCH, show_default=True, type=click.IntRange(1, 10_000))
@database_option
def rotate(batch: int, database_url: str | None) -> None:
    """Add a new master key to the key file (it seals from now on), re-seal every stored
    secret under it while the service runs, and say when the old keys can be retired."""
    settings = load(database_url=database_url)
    with open_services(settings) as services:
        old = _key_file(settings)
        new = MasterKey.generate()
        write_key_file(settings.key_file_path(), [new, *old])
        click.echo(f"added master key {new.key_id} to {settings.key_file_path()}; it seals now")
        services.master_keys.box.refresh()
        time.sleep(SETTLE)  # running servers take the new file within a second
        done = services.master_keys.reseal(batch)
    _report(done, new.key_id)
    retired = ", ".join(k.key_id for k in old)
    hours = MAX_SESSION_DURATION[1] // 3600
    click.echo(
        f"No stored secret is sealed under {retired} any more. Temporary credentials issued "
        f"before now are, until they expire (at most {hours} h): after that, remove the old "
        f"key with `keyhouse master-key retire KEYID`. Backups taken before now need the old "
        f"key: keep a copy of it with them."
    )


@master_key.command("reseal")
@click.option("--batch", default=BATCH, show_default=True, type=click.IntRange(1, 10_000))
@database_option
def reseal(batch: int, database_url: str | None) -> None:
    """Re-seal every stored secret under the keyring's first key (after adding a key to
    KEYHOUSE_MASTER_KEY by hand and restarting every instance)."""
    settings = load(database_url=database_url)
    with open_services(settings) as services:
        done = services.master_keys.reseal(batch)
        _report(done, services.master_keys.box.sealing_key_id)


@master_key.command("status")
@database_option
def status(database_url: str | None) -> None:
    """The keyring's keys (the first seals) and how many stored secrets each seals."""
    settings = load(database_url=database_url)
    with open_services(settings) as services:
        counts = services.master_keys.counts()
        box = services.master_keys.box
        for key_id in [box.sealing_key_id, *sorted(box.key_ids - {box.sealing_key_id})]:
            role = "seals and opens" if key_id == box.sealing_key_id else "opens"
            click.echo(f"{key_id}  {counts.pop(key_id, 0)} secrets  ({role})")
        for key_id, count in sorted(counts.items()):  # the store's, not in the keyring
            click.echo(f"{key_id}  {count} secrets  (missing from the keyring)")


@master_key.command("retire")
@click.argument("key_id")
@click.option(
    "--force",
    is_flag=True,
    help="Retire the key although temporary credentials it sealed have not expired: they end "
    "at once, on every server that follows the key file.",
)
@database_option
def retire(key_id: str, force: bool, database_url: str | None) -> None:
    """Remove KEY_ID from the key file, once no stored secret is sealed under it and no
    temporary credential it sealed may still be live (or with --force)."""
    settings = load(database_url=database_url)
    with open_services(settings) as services:
        keys = _key_file(settings)
        if key_id not in {k.key_id for k in keys}:
            fail(EXIT_DOMAIN, f"the key file holds no master key {key_id}")
        if keys[0].key_id == key_id:
            fail(EXIT_DOMAIN, f"{key_id} is the sealing key: rotate first")
        still = services.master_keys.counts().get(key_id, 0)
        if still:
            fail(EXIT_DOMAIN, f"{still} stored secrets are sealed under {key_id}: run reseal")
        live, until = services.master_keys.live_sessions().get(key_id, (0, None))
        if live and not force:
            fail(
                EXIT_DOMAIN,
                f"{live} temporary credentials sealed under {key_id} may be live until "
                f"{format_date(until)}: retire it after then, or with --force to end them now",
            )
        write_key_file(settings.key_file_path(), [k for k in keys if k.key_id != key_id])
    click.echo(f"removed master key {key_id} from {settings.key_file_path()}")
    if live:
        click.echo(
            f"ended {live} temporary credentials sealed under {key_id} (they would have lasted "
            f"until {format_date(until)}): servers refuse them within a second "
            "(InvalidSecurityToken.Expired)"
        )
