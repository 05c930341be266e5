"""The set of use-cases a surface (wire, CLI, console) is handed by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from keyhouse.clock import Clock
from keyhouse.metrics import Metrics
from keyhouse.services.accounts import Accounts
from keyhouse.services.attachments import Attachments
from keyhouse.services.authn import Authenticator
from keyhouse.services.console import Console
from keyhouse.services.gateway import Gateway
from keyhouse.services.groups import Groups
from keyhouse.services.hot_reads import HotReads
from keyhouse.services.keys import Keys
from keyhouse.services.leaks import LeakScanner
from keyhouse.services.masterkeys import MasterKeys
from keyhouse.services.mfa import MFA
from keyhouse.services.policies import Policies
from keyhouse.services.protected import ProtectedServices
from keyhouse.services.reports import Reports
from keyhouse.services.roles import Roles
from keyhouse.services.sts import Sts
from keyhouse.services.sweep import Sweeper
from keyhouse.services.throttle import SourceThrottle
from keyhouse.services.trail.lookup import Trail
from keyhouse.services.trail.surface import Acting
from keyhouse.services.trail.writer import AuditWriter
from keyhouse.services.users import Users
from keyhouse.store.sql import SqlStore


@dataclass(frozen=True)
class Services:
    store: SqlStore
    clock: Clock
    accounts: Accounts
    users: Users
    keys: Keys
    policies: Policies
    attachments: Attachments
    groups: Groups
    roles: Roles
    sts: Sts
    leaks: LeakScanner
    audit: AuditWriter
    acting: Acting
    trail: Trail
    reports: Reports
    console: Console
    mfa: MFA
    authenticator: Authenticator
    sweeper: Sweeper
    metrics: Metrics
    throttle: SourceThrottle
    master_keys: MasterKeys
    hot_reads: HotReads
    services: ProtectedServices
    gateway: Gateway
