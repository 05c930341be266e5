"""Reading a request off the wire: parameters, action and version, and what was signed."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from urllib.parse import unquote

from keyhouse.services.authn import AuthenticationFailed, SignedRequest
from keyhouse.signing import acs3, rpc

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z\Z", re.ASCII)
_NONCE = re.compile(r"^[A-Za-z0-9._~-]{1,64}\Z", re.ASCII)
# Headers that a V3 signature must cover: without them a signature could be replayed elsewhere.
_MUST_SIGN = frozenset(
    {
        "host",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
        "x-acs-action",
        "x-acs-version",
    }
)


@dataclass(frozen=True)
class WireRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: dict[str, list[str]]  # lower-case name -> every value received
    body: bytes = field(repr=False)
    client: str = ""
    scheme: str = "http"

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        raw_query: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        body: bytes,
        client: str = "",
        scheme: str = "http",
    ) -> WireRequest:
        headers: dict[str, list[str]] = {}
        for name, value in raw_headers:
            headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        query = parse_query(raw_query.decode("latin-1"))
        form: list[tuple[str, str]] = []
        content_type = headers.get("content-type", [""])[0].lower()
        if body and content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_query(body.decode("utf-8", "replace"))
        return cls(method.upper(), path, query, form, headers, body, client, scheme)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    def params(self) -> dict[str, str]:
        """Query and form parameters together (a later value of the same name wins). Built
        once per request and shared: callers must not change it."""
        return self._params

    @cached_property
    def _params(self) -> dict[str, str]:
        return dict(self.query + self.form)

    @property
    def is_v3(self) -> bool:
        return "authorization" in self.headers

    def action_version(self) -> tuple[str | None, str | None]:
        """V3 names the action in signed headers; RPC in signed parameters."""
        return self._action_version

    @cached_property
    def _action_version(self) -> tuple[str | None, str | None]:
        params = self.params()
        headers = (self.header("x-acs-action"), self.header("x-acs-version"))
        query = (params.get("Action"), params.get("Version"))
        first, second = (headers, query) if self.is_v3 else (query, headers)
        return first[0] or second[0], first[1] or second[1]


def parse_query(text: str) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(text, keep_blank_values=True)``, without its per-call
    overhead on the common case: pieces without ``%`` or ``+`` are taken as they are."""
    pairs: list[tuple[str, str]] = []
    for piece in text.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if "%" in piece or "+" in piece:
            name = _unquote(name.replace("+", " "))
            value = _unquote(value.replace("+", " "))
        pairs.append((name, value))
    return pairs


_ASCII_ESCAPE = re.compile(r"%([0-7][0-9A-Fa-f])")
_OTHER_ESCAPE = re.compile(r"%[89A-Fa-f][0-9A-Fa-f]")


def _unquote(text: str) -> str:
    """``unquote(text, errors="replace")``: escapes of ASCII characters (a timestamp's colons,
    a signature's ``+/=``) decoded by one regex pass; others (UTF-8) by ``unquote`` itself."""
    if "%" not in text:
        return text
    if _OTHER_ESCAPE.search(text):
        return unquote(text, errors="replace")
    return _ASCII_ESCAPE.sub(_ascii_character, text)


def _ascii_character(match: re.Match[str]) -> str:
    return chr(int(match.group(1), 16))


def _incomplete(why: str) -> AuthenticationFailed:
    return AuthenticationFailed("incomplete", f"The request signature is incomplete: {why}")


def _timestamp(text: str) -> datetime:
    refused = AuthenticationFailed(
        "timestamp_format", "Specified time stamp or date value is not well formatted."
    )
    if not _TIMESTAMP.match(text):
        raise refused
    try:  # the pattern lets through days and hours that do not exist (2026-02-30, 25:00)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise refused from None


def _nonce(text: str | None) -> str:
    if not text:
        raise _incomplete("the signature nonce is missing.")
    if not _NONCE.match(text):
        raise _incomplete("the signature nonce must be 1 to 64 URL-safe characters.")
    return text


def signed_request(req: WireRequest) -> SignedRequest:
    """Extract the claimed identity and a verifier; refuse requests that sign too little."""
    if req.is_v3:
        return _v3(req)
    if "Signature" in req.params():
        return _rpc(req)
    raise _incomplete("no Authorization header and no Signature parameter.")


_SHA256_HEX = re.compile(r"^[0-9a-f]{64}\Z", re.ASCII)


def signed_forwarded(req: WireRequest) -> SignedRequest:
    """A request a gateway forwarded without its body (keyhouse.api.gateway): an ACS3
    signature, over the body hash the client signed in ``x-acs-content-sha256`` (whoever holds
    the body checks it against that hash: docs/protect.md)."""
    if not req.is_v3:
        raise _incomplete("a protected service takes ACS3-HMAC-SHA256 signatures only.")
    claimed = req.header("x-acs-content-sha256") or ""
    if not _SHA256_HEX.match(claimed):
        raise _incomplete("x-acs-content-sha256 must be the body's SHA-256, in lower-case hex.")
    if req.body and hashlib.sha256(req.body).hexdigest() != claimed:
        raise AuthenticationFailed(
            "signature_mismatch", "The body does not match its signed x-acs-content-sha256."
        )
    return _v3(req, claimed)


def _v3(req: WireRequest, payload_hash: str | None = None) -> SignedRequest:
    try:
        auth = acs3.parse_authorization(req.header("authorization") or "")
    except acs3.MalformedAuthorization as exc:
        raise _incomplete(f"malformed Authorization header ({exc}).") from exc
    if auth.algorithm != acs3.ALGORITHM:
        raise AuthenticationFailed(
            "signature_method", f"Specified signature method {auth.algorithm} is not supported."
        )
    required = set(_MUST_SIGN) | {h for h in req.headers if h.startswith("x-acs-")}
    if "content-type" in req.headers:
        required.add("content-type")
    unsigned = sorted(required - set(auth.signed_headers))
    if unsigned:
        raise _incomplete(f"these headers must be signed: {', '.join(unsigned)}.")
    timestamp = _timestamp(req.header("x-acs-date") or "")
    nonce = _nonce(req.header("x-acs-signature-nonce"))
    if payload_hash is None:
        payload_hash = hashlib.sha256(req.body).hexdigest()

    def expected(secret: str) -> tuple[str, str]:
        canonical = acs3.canonical_request(
            req.method, req.path, req.query, req.headers, auth.signed_headers, payload_hash
        )
        to_sign = acs3.string_to_sign(canonical)
        return acs3.sign(secret, to_sign), to_sign

    token = req.header("x-acs-security-token")  # signed: every x-acs- header must be
    return SignedRequest(auth.credential, auth.signature, timestamp, nonce, expected, token)


def _rpc(req: WireRequest) -> SignedRequest:
    if req.body and not req.form:
        # RPC signs parameters only: any other body would travel unsigned, so refuse it.
        raise _incomplete("an RPC request body must be form-encoded parameters (they are signed).")
    everything = req.query + req.form
    given = dict(everything)
    for name in ("AccessKeyId", "SignatureMethod", "Timestamp"):
        if not given.get(name):
            raise _incomplete(f"the {name} parameter is missing.")
    if given["SignatureMethod"] != "HMAC-SHA1" or given.get("SignatureVersion", "1.0") != "1.0":
        raise AuthenticationFailed(
            "signature_method",
            f"Specified signature method {given['SignatureMethod']} is not supported.",
        )
    timestamp = _timestamp(given["Timestamp"])
    nonce = _nonce(given.get("SignatureNonce"))
    signed_params = [(k, v) for k, v in everything if k != "Signature"]

    given_signature = given.get("Signature", "").encode()

    def expected(secret: str) -> tuple[str, str]:
        to_sign = rpc.string_to_sign(req.method, signed_params, req.path or "/")
        signature = rpc.sign(secret, to_sign)
        if any(" " in k + v for k, v in signed_params) and not hmac.compare_digest(
            signature.encode(), given_signature
        ):
            # A space may have been signed as "+" (the vendor's credential library does): the
            # same parameters, so the same proof of the secret. Both comparisons take constant
            # time: the expected signature must not leak through them.
            form = rpc.string_to_sign(req.method, signed_params, req.path or "/", form=True)
            alternative = rpc.sign(secret, form)
            if hmac.compare_digest(alternative.encode(), given_signature):
                return alternative, form
        return signature, to_sign

    token = given.get("SecurityToken")  # a signed parameter like any other
    return SignedRequest(
        given["AccessKeyId"], given["Signature"], timestamp, nonce, expected, token
    )
