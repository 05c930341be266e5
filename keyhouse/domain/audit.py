"""Audit events: their shape, what is kept out of them, and the per-account keyed hash chain.

An event is a JSON object in ActionTrail's shape (camelCase: ``eventId``, ``eventTime``,
``eventName``, ``eventRW``, ``serviceName``, ``userIdentity`` ...). Events of one account form a
chain: event ``n`` stores ``hash_n = HMAC-SHA256(K, account \\n n \\n hash_{n-1} \\n body_n)``,
and the account's head row holds the last ``n`` and hash. Editing, deleting, inserting or
reordering events breaks the chain at the first event touched; cutting the tail no longer
matches the head.

``K`` (:class:`ChainKey`) is the store's ``audit-chain`` key, sealed in the store under the
master keyring (keyhouse.services.masterkeys.open_chain_key): whoever can write to the database
but holds no master key cannot compute a hash, so cannot edit an event and re-chain the events
after it.
What the chain does not show is in docs/audit.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = "0" * 64

# Parameters every signed request carries: they say nothing about the action, and the
# signature must never be kept.
_COMMON = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "SignatureType",
        "Timestamp",
        "SecurityToken",
        "RegionId",
    }
)
# An MFA seed, its QR code and a code are secrets too (a code is one for 30 seconds).
_SECRET_WORDS = (
    "secret",
    "password",
    "signature",
    "authorization",
    "token",
    "seed",
    "qrcode",
    "authenticationcode",
)


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


# What one event may keep of a request's parameters: an event is stored for 400 days, also for
# requests that failed before anyone was authenticated, so its size is bounded here.
MAX_PARAMETERS = 64
MAX_VALUE_LENGTH = 6144  # the longest legitimate value: a policy document
MAX_PARAMETER_BYTES = 12 * 1024
# One stored event, every column together, however the request was built: the body (the event's
# JSON) and the resources column have budgets of their own; the other columns are short and
# cut to their widths (at most ~500 bytes together).
MAX_EVENT_BYTES = 16 * 1024
MAX_RESOURCES_BYTES = 2 * 1024
MAX_BODY_BYTES = MAX_EVENT_BYTES - MAX_RESOURCES_BYTES - 1024
MAX_MESSAGE_LENGTH = 1024  # an error message (a signature mismatch's carries the string to sign)
_SHORT_VALUE = 256  # what each parameter keeps when the event is still too large


def request_parameters(params: Mapping[str, str]) -> tuple[dict[str, str], bool]:
    """What the caller asked for, without signing parameters or anything secret-like, cut to
    the bounds above; and whether anything was cut."""
    kept: dict[str, str] = {}
    size = 0
    cut = False
    for name, value in sorted(params.items()):
        if name in _COMMON or _is_secret(name):
            continue
        if len(kept) >= MAX_PARAMETERS:
            cut = True
            break
        short_name, short_value = name[:128], value[:MAX_VALUE_LENGTH]
        if len(short_name) + len(short_value) + size > MAX_PARAMETER_BYTES:
            cut = True
            break
        cut = cut or (short_name, short_value) != (name, value)
        kept[short_name] = short_value
        size += len(short_name) + len(short_value)
    return kept, cut


def storable(text: str, length: int | None = None) -> str:
    """``text`` as every store can keep it: PostgreSQL refuses NUL characters in text and
    unpaired surrogates in UTF-8, so NUL becomes U+FFFD and a surrogate ``?``; cut to the
    column's ``length``."""
    if "\0" in text:
        text = text.replace("\0", "\ufffd")
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text if length is None else text[:length]


def cut(text: str, length: int) -> str:
    """``text`` cut to ``length`` characters, with a marker saying how much was left out."""
    if len(text) <= length:
        return text
    return f"{text[:length]}...[cut: {len(text) - length} more characters]"


def cut_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, on a character boundary."""
    if len(text) * 4 <= limit:  # every character is at most 4 bytes
        return text
    return text.encode()[:limit].decode("utf-8", "ignore")


def bounded_body(event: dict[str, Any]) -> str:
    """The event's canonical JSON in at most MAX_BODY_BYTES: when it is larger, the response
    is left out, then each parameter value is cut, then the parameters are left out, each
    step saying so in ``additionalEventData``. The other fields are bounded where they are
    made (identity, addresses, user agent, error code and message)."""
    body = canonical(event)
    if len(body) * 4 <= MAX_BODY_BYTES or len(body.encode()) <= MAX_BODY_BYTES:
        return body
    event = dict(event)
    extra = dict(event.get("additionalEventData") or {})
    steps: tuple[tuple[str, Callable[[dict[str, Any]], None]], ...] = (
        ("responseElementsOmitted", _omit_response),
        ("requestParametersTruncated", _cut_parameters),
        ("requestParametersOmitted", _omit_parameters),
    )
    for flag, step in steps:
        step(event)
        extra[flag] = True
        event["additionalEventData"] = extra
        body = canonical(event)
        if len(body.encode()) <= MAX_BODY_BYTES:
            return body
    return body  # what is left is bounded field by field


def _omit_response(event: dict[str, Any]) -> None:
    event["responseElements"] = None


def _cut_parameters(event: dict[str, Any]) -> None:
    event["requestParameters"] = {
        k: cut(v, _SHORT_VALUE) if isinstance(v, str) else v
        for k, v in (event.get("requestParameters") or {}).items()
    }


def _omit_parameters(event: dict[str, Any]) -> None:
    event["requestParameters"] = {}


def scrub(value: Any) -> Any:
    """A response (or part of one) with every secret-like field removed, recursively."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if not _is_secret(k) and k != "RequestId"}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def canonical(event: Mapping[str, Any]) -> str:
    """Sorted keys, no spaces, UTF-8 as is: orjson writes what ``json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`` writes, several times faster; the standard
    library takes what orjson refuses (a lone surrogate, an integer beyond 64 bits)."""
    try:
        return orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ChainKey:
    """The key of the trail's hash chain. One HMAC state is keyed once and copied per event."""

    def __init__(self, material: bytes) -> None:
        if len(material) < 32:
            raise ValueError("an audit chain key is at least 32 bytes")
        self._keyed = hmac.new(material, digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "ChainKey(...)"

    def digest(self, account_id: str, seq: int, previous: str, body: str) -> str:
        mac = self._keyed.copy()
        mac.update(f"{account_id}\n{seq}\n{previous}\n{body}".encode())
        return mac.hexdigest()


class NoChainKey(ChainKey):
    """What a store has before its keyring is open: chaining an event is a bug then."""

    def __init__(self) -> None:
        pass

    def digest(self, account_id: str, seq: int, previous: str, body: str) -> str:
        raise RuntimeError("the audit chain key is not loaded (the keyring is not open)")


def legacy_chain_hash(account_id: str, seq: int, previous: str, body: str) -> str:
    """The unkeyed chain of stores written before revision 0010: checked once, then re-keyed."""
    return hashlib.sha256(f"{account_id}\n{seq}\n{previous}\n{body}".encode()).hexdigest()


# Which resources an event concerns, for LookupEvents' ResourceName.
_RESOURCE_PARAMETERS = (
    "UserName",
    "UserPrincipalName",
    "NewUserName",
    "UserId",
    "UserAccessKeyId",
    "PolicyName",
    "GroupName",
    "NewGroupName",
    "RoleName",
    "RoleArn",
    "ServiceName",  # a protected service, and a verification's resource
    "Resource",  # (keyhouse.api.gateway)
)


# The trail's serviceName: the product whose API served the request, as the vendor's ActionTrail
# writes it ("Ims" for IMS 2019-08-15, "Ram" for RAM 2015-05-01, ...). The vendor's RAM console
# calls IMS, so its operations say "Ims" (ActionTrail's IMS samples); Keyhouse's console and
# commands do the same (keyhouse.services.trail.surface).
_SERVICE_NAMES = {"ims": "Ims", "ram": "Ram", "sts": "Sts", "actiontrail": "Actiontrail"}


def service_name(product: str) -> str:
    """The serviceName of a request served by ``product``'s API (a route's "ims", "ram", ...)."""
    return _SERVICE_NAMES.get(product) or product.capitalize()


def resources(params: Mapping[str, str], response: Mapping[str, Any] | None) -> list[str]:
    found = []
    for name in _RESOURCE_PARAMETERS:
        value = params.get(name)
        if value:
            if name.endswith("PrincipalName"):
                value = value.split("@", 1)[0]
            elif name == "RoleArn":
                value = value.lower()  # the name is any case, the ARN's as the vendor writes it
            found.append(value)
    for value in (response or {}).values():
        if isinstance(value, str) and value:
            found.append(value)
    return sorted(set(found))


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of the trail as stored: what verification reads back."""

    account_id: str
    seq: int
    event_id: str
    event_name: str
    access_key_id: str | None
    body: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Head:
    account_id: str
    seq: int
    hash: str
    pruned_seq: int = 0
    pruned_hash: str = GENESIS


@dataclass(frozen=True, slots=True)
class Break:
    """The first event where the chain does not hold, and why."""

    account_id: str
    seq: int
    event_id: str
    reason: str


def verify(head: Head, events: Iterable[StoredEvent], key: ChainKey) -> Break | None:
    """Walk one account's events in ``seq`` order from the retention cut; None if intact."""
    expected_seq = head.pruned_seq + 1
    previous = head.pruned_hash
    for event in events:
        if event.seq != expected_seq:
            what = "missing" if event.seq > expected_seq else "out of order"
            return Break(
                head.account_id,
                event.seq,
                event.event_id,
                f"event {expected_seq} is {what} before this one",
            )
        if event.prev_hash != previous:
            return Break(
                head.account_id, event.seq, event.event_id, "does not follow the event before it"
            )
        if not hmac.compare_digest(
            key.digest(event.account_id, event.seq, previous, event.body), event.hash
        ):
            return Break(head.account_id, event.seq, event.event_id, "its content was changed")
        body = json.loads(event.body)
        identity = body.get("userIdentity") or {}
        if (
            body.get("eventId") != event.event_id
            or body.get("eventName") != event.event_name
            or identity.get("accessKeyId") != event.access_key_id
        ):
            return Break(
                head.account_id, event.seq, event.event_id, "its indexed columns were changed"
            )
        previous = event.hash
        expected_seq += 1
    if expected_seq - 1 != head.seq or previous != head.hash:
        return Break(
            head.account_id,
            expected_seq,
            "",
            f"the trail ends at event {expected_seq - 1}, the head says {head.seq}",
        )
    return None
