"""The ``keyhouse`` command. Its flags and output formats are an interface: keep them stable.

Each module holds one family of commands; this one joins them into the ``keyhouse`` group.
"""

from __future__ import annotations

import click

from keyhouse.cli import key_lifecycle  # noqa: F401  (its commands join the key group)
from keyhouse.cli.accounts import account
from keyhouse.cli.keys import key, scan, whois
from keyhouse.cli.masterkey import master_key
from keyhouse.cli.mfa import mfa
from keyhouse.cli.roles import role
from keyhouse.cli.serve import serve
from keyhouse.cli.services import service
from keyhouse.cli.store import backup, purge, restore, store
from keyhouse.cli.trail import acl, audit
from keyhouse.cli.users import user


@click.group()
@click.version_option(package_name="keyhouse")
def main() -> None:
    """Keyhouse: a self-hosted AccessKey service speaking the Alibaba Cloud RAM/IMS/STS protocol."""


for command in (
    serve,
    account,
    user,
    key,
    mfa,
    role,
    service,
    scan,
    whois,
    audit,
    acl,
    store,
    backup,
    restore,
    purge,
    master_key,
):
    main.add_command(command)

__all__ = ["main"]
