"""Trust policies (a role's AssumeRolePolicyDocument): who may assume the role.

Validated as strictly as permission policies: anything Keyhouse would not enforce exactly is
refused (MalformedPolicyDocument) rather than silently ignored. What is understood:

- ``Version`` "1"; ``Statement`` a non-empty list of at most 16 statements;
- ``Effect`` Allow or Deny; ``Action`` ``sts:AssumeRole`` (a string or a list of it);
- ``Principal`` an object with ``RAM`` (ARNs of accounts ``acs:ram::<id>:root``, users
  ``acs:ram::<id>:user/<name>`` or roles ``acs:ram::<id>:role/<name>``), ``Service`` (service
  names; no RAM user or role session can assume such a role) or ``Federated`` (identity
  providers; Keyhouse serves none, so these never match); each a string or a list;
- ``Condition`` ``StringEquals`` on ``sts:ExternalId`` only.

An account's ``root`` means any identity of that account (its RAM users and role sessions);
the identity must still be allowed ``sts:AssumeRole`` by its own policies.

A user or role named in a policy is bound to that identity when the policy is saved, as AWS IAM
does with unique IDs: the service resolves each name to the user's or role's ID
(:meth:`TrustPolicy.identities`, :data:`Bindings`) and a caller matches only by that ID. Whoever
holds the name later (a user re-created under it, or a user renamed into it) is not trusted; the
bound identity still is after a rename of its own or a stay in the recycle bin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from keyhouse.domain import arn, jsondoc
from keyhouse.domain.errors import MalformedDocument

MAX_LENGTH = 4096
MAX_STATEMENTS = 16
MAX_PRINCIPALS = 100


# A principal a policy names: ("user" | "role", account ID, name; a role's lower-cased, as role
# names are unique whatever their case, a user's as written, as user names are not).
Identity = tuple[str, str, str]
# What each named principal was bound to when the policy was saved: its user or role ID.
Bindings = Mapping[Identity, str]


def binding_key(identity: Identity) -> str:
    """How a binding is stored: ``user:<account>:<name>``."""
    return ":".join(identity)


def bindings_from(stored: Mapping[str, str]) -> dict[Identity, str]:
    """The bindings a store kept under :func:`binding_key`."""
    found: dict[Identity, str] = {}
    for key, bound in stored.items():
        kind, account, name = key.split(":", 2)
        found[(kind, account, name)] = bound
    return found


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks to assume the role, as a trust policy can name it."""

    account_id: str
    user_id: str | None = None  # a RAM user
    role_id: str | None = None  # a role session's role


@dataclass(frozen=True, slots=True)
class _Statement:
    allow: bool
    accounts: frozenset[str]  # root: any identity of the account
    users: frozenset[tuple[str, str]]  # (account, user name: user names keep their case)
    roles: frozenset[tuple[str, str]]  # (account, lower-cased role name)
    external_ids: frozenset[str] | None  # None: no condition

    def names(self, caller: Caller, external_id: str | None, bindings: Bindings) -> bool:
        if self.external_ids is not None and external_id not in self.external_ids:
            return False
        if caller.account_id in self.accounts:
            return True
        if caller.user_id is not None:
            bound = {bindings.get(("user", a, n)) for a, n in self.users}
            return caller.user_id in bound
        if caller.role_id is not None:
            bound = {bindings.get(("role", a, n)) for a, n in self.roles}
            return caller.role_id in bound
        return False


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    statements: tuple[_Statement, ...]

    def trusts(self, caller: Caller, external_id: str | None, bindings: Bindings) -> bool:
        """Whether the policy lets ``caller`` assume the role: some Allow names it, and no
        Deny does. A user or role principal names only the identity ``bindings`` bound it to
        when the policy was saved."""
        named = [s for s in self.statements if s.names(caller, external_id, bindings)]
        return any(s.allow for s in named) and not any(not s.allow for s in named)

    def identities(self) -> frozenset[Identity]:
        """Every user and role the policy names, to be bound to their IDs when it is saved."""
        found: set[Identity] = set()
        for statement in self.statements:
            found.update(("user", a, n) for a, n in statement.users)
            found.update(("role", a, n) for a, n in statement.roles)
        return frozenset(found)


def _bad(message: str) -> MalformedDocument:
    return MalformedDocument(f"The trust policy is not valid: {message}")


def _strings(value: object, what: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise _bad(f"{what} must be a string or a non-empty list of strings.")
    if len(values) > MAX_PRINCIPALS:
        raise _bad(f"{what} names more than {MAX_PRINCIPALS} values.")
    return values  # type: ignore[return-value]


def parse(document: str) -> TrustPolicy:
    if len(document) > MAX_LENGTH:
        raise _bad(f"it is longer than {MAX_LENGTH} characters.")
    try:
        doc = jsondoc.load(document)  # bounded depth and numbers, like every other document
    except jsondoc.DocumentError as exc:
        raise _bad(f"it is not JSON ({exc}).") from None
    if not isinstance(doc, dict):
        raise _bad("it must be a JSON object.")
    unknown = set(doc) - {"Version", "Statement"}
    if unknown:
        raise _bad(f"unknown element {sorted(unknown)[0]!r}.")
    if doc.get("Version") != "1":
        raise _bad('Version must be "1".')
    statements = doc.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise _bad("Statement must be a non-empty list.")
    if len(statements) > MAX_STATEMENTS:
        raise _bad(f"at most {MAX_STATEMENTS} statements.")
    return TrustPolicy(tuple(_statement(s) for s in statements))


def _statement(raw: object) -> _Statement:
    if not isinstance(raw, dict):
        raise _bad("each statement must be an object.")
    unknown = set(raw) - {"Effect", "Action", "Principal", "Condition"}
    if unknown:
        raise _bad(f"unknown statement element {sorted(unknown)[0]!r}.")
    if not isinstance(raw.get("Effect"), str) or raw["Effect"] not in {"Allow", "Deny"}:
        raise _bad("Effect must be Allow or Deny.")
    if "Action" not in raw or any(a != "sts:AssumeRole" for a in _strings(raw["Action"], "Action")):
        raise _bad("Action must be sts:AssumeRole.")
    principal = raw.get("Principal")
    if not isinstance(principal, dict) or not principal:
        raise _bad("Principal must be an object naming RAM, Service or Federated principals.")
    unknown = set(principal) - {"RAM", "Service", "Federated"}
    if unknown:
        raise _bad(f"unknown principal type {sorted(unknown)[0]!r}.")
    accounts, users, roles = set(), set(), set()
    for named in _strings(principal["RAM"], "Principal.RAM") if "RAM" in principal else []:
        found = arn.parse_principal(named)
        if found is None:
            raise _bad(
                f"{named!r} is not a RAM principal "
                "(acs:ram::<account id>:root, :user/<name> or :role/<name>)."
            )
        account, kind, name = found
        if kind == "root":
            accounts.add(account)
        elif kind == "user":
            users.add((account, name))
        else:
            roles.add((account, name.lower()))
    for kind in ("Service", "Federated"):  # checked for shape; they never name a caller here
        if kind in principal:
            _strings(principal[kind], f"Principal.{kind}")
    return _Statement(
        raw["Effect"] == "Allow",
        frozenset(accounts),
        frozenset(users),
        frozenset(roles),
        _external_ids(raw.get("Condition")),
    )


def _external_ids(condition: object) -> frozenset[str] | None:
    if condition is None:
        return None
    if not isinstance(condition, dict) or set(condition) != {"StringEquals"}:
        raise _bad("the only condition supported is StringEquals on sts:ExternalId.")
    keys = condition["StringEquals"]
    if not isinstance(keys, dict) or set(keys) != {"sts:ExternalId"}:
        raise _bad("the only condition supported is StringEquals on sts:ExternalId.")
    return frozenset(_strings(keys["sts:ExternalId"], "sts:ExternalId"))
