"""Every ARN Keyhouse writes or reads, built and parsed here only (the structure test refuses an
``acs:`` string built anywhere else).

Two families, as the vendor has them:

- **Identities** name who someone is (``acs:ram::<account>:user/<name>``, no region field):
  what GetCallerIdentity answers, what a trust policy names, a role to assume, an MFA device.
- **Resources** name what an action is checked against in a policy
  (``acs:ram:*:<account>:user/<name>``, ``*`` for the region): users, groups, roles,
  policies, the account (``acs:ram:*:<account>:*``), and a protected service's own
  (``acs:<service>:*:<account>:...``).
"""

from __future__ import annotations

import re

# -- identities -------------------------------------------------------------------------------


def root_arn(account_id: str) -> str:
    return f"acs:ram::{account_id}:root"


def user_arn(account_id: str, user_name: str) -> str:
    return f"acs:ram::{account_id}:user/{user_name}"


def role_arn(account_id: str, role_name: str) -> str:
    """``acs:ram::<account>:role/<name>``, the name lower-cased as the vendor's service writes
    it (role names are unique regardless of case)."""
    return f"acs:ram::{account_id}:role/{role_name.lower()}"


def assumed_role_arn(account_id: str, role_name: str, session_name: str) -> str:
    return f"acs:ram::{account_id}:assumed-role/{role_name.lower()}/{session_name}"


def identity_arn(account_id: str, kind: str, name: str) -> str:
    """A trust policy's principal: ``kind`` is "user" or "role"."""
    return f"acs:ram::{account_id}:{kind}/{name}"


def mfa_serial(account_id: str, device_name: str) -> str:
    """A virtual MFA device's serial number."""
    return f"acs:ram::{account_id}:mfa/{device_name}"


_ROLE = re.compile(
    r"^acs:ram::(?P<account>[0-9]{1,32}):role/(?P<name>[A-Za-z0-9.-]{1,64})\Z", re.ASCII
)
_PRINCIPAL = re.compile(
    r"^acs:ram::(?P<account>[0-9]{1,32}):"
    r"(?:(?P<root>root)|(?P<kind>user|role)/(?P<name>[A-Za-z0-9._@-]{1,64}))\Z",
    re.ASCII,
)


def parse_role_arn(text: str) -> tuple[str, str] | None:
    """(account, role name) of ``acs:ram::<account>:role/<name>``, or None."""
    found = _ROLE.match(text)
    return (found["account"], found["name"]) if found else None


def parse_principal(text: str) -> tuple[str, str, str] | None:
    """(account, "root" | "user" | "role", name or "") of an identity a trust policy may name,
    or None."""
    found = _PRINCIPAL.match(text)
    if found is None:
        return None
    if found["root"]:
        return found["account"], "root", ""
    return found["account"], found["kind"], found["name"]


def parse_mfa_serial(account_id: str, serial: str) -> str | None:
    """The device name in ``serial`` when it is a serial number of ``account_id``'s devices."""
    prefix = mfa_serial(account_id, "")
    return serial[len(prefix) :] if serial.startswith(prefix) else None


# -- resources --------------------------------------------------------------------------------


def account_resource(account_id: str) -> str:
    return f"acs:ram:*:{account_id}:*"


def user_resource(account_id: str, user_name: str) -> str:
    return f"acs:ram:*:{account_id}:user/{user_name}"


def root_resource(account_id: str) -> str:
    return f"acs:ram:*:{account_id}:root"


def role_resource(account_id: str, role_name: str) -> str:
    """A role's resource, its name lower-cased as in its ARN."""
    return f"acs:ram:*:{account_id}:role/{role_name.lower()}"


def group_resource(account_id: str, group_name: str) -> str:
    return f"acs:ram:*:{account_id}:group/{group_name}"


def policy_resource(account_id: str, policy_name: str, policy_type: str = "Custom") -> str:
    """A custom policy's ARN in its account; a system policy's is the vendor's
    ``acs:ram:*:system:policy/<name>``, the same in every account."""
    owner = "system" if policy_type == "System" else account_id
    return f"acs:ram:*:{owner}:policy/{policy_name}"


def service_resource(account_id: str, name: str) -> str:
    """What Keyhouse's own actions on a protected service (and a gateway's verification) are
    checked against."""
    return f"acs:keyhouse:*:{account_id}:service/{name}"


def service_resource_prefix(service: str) -> str:
    """How every resource of a protected service's routes begins."""
    return f"acs:{service}:"


def service_default_resource(service: str) -> str:
    """A route's resource when it names none: the whole service in the caller's account."""
    return f"acs:{service}:*:${{account}}:*"
