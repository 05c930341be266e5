"""Authentication refusals with the exact codes, and who may do what until policies exist."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration import raw
from tests.integration.conftest import as_user, expect_error, upn
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.steps import make_key, make_user

STS = "2015-04-01"
IMS = "2019-08-15"


def _ak(account: dict[str, Any]) -> tuple[str, str]:
    return account["AccessKeyId"], account["AccessKeySecret"]


def _user_key(root: Api, account: dict[str, Any], name: str = "alice") -> dict[str, Any]:
    return make_key(root, make_user(root, account, name))


def test_a_well_signed_rpc_request_from_the_test_signer_is_accepted(
    server: Server, account: dict[str, Any]
) -> None:
    status, body = raw.post_rpc(
        server.endpoint, raw.rpc_query(*_ak(account), "GetCallerIdentity", STS)
    )
    assert (status, body["AccountId"]) == (200, account["AccountId"])
    headers = raw.v3_headers(server.endpoint, *_ak(account), "GetCallerIdentity", STS, {})
    status, body = raw.send(server.endpoint, "POST", "/", headers)
    assert (status, body["IdentityType"]) == (200, "Account")


def test_unknown_access_key_is_invalid_access_key_id_not_found(
    server: Server, flavour: str
) -> None:
    ghost = Api(flavour, server.endpoint, "LTAI" + "x" * 20, "y" * 30)
    expect_error("InvalidAccessKeyId.NotFound", 404, ghost.sts, "GetCallerIdentity")


def test_binned_key_is_invalid_access_key_id_not_found(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    key = _user_key(root, account)
    root.ims(
        "UpdateAccessKey",
        UserPrincipalName=upn(account, "alice"),
        UserAccessKeyId=key["AccessKeyId"],
        Status="Inactive",
    )
    root.ims(
        "DeleteAccessKey",
        UserPrincipalName=upn(account, "alice"),
        UserAccessKeyId=key["AccessKeyId"],
    )
    expect_error(
        "InvalidAccessKeyId.NotFound",
        404,
        as_user(server, "v3", {"AccessKey": key}).sts,
        "GetCallerIdentity",
    )


def test_wrong_signature_is_signature_does_not_match_with_the_string_to_sign(
    server: Server, account: dict[str, Any], flavour: str
) -> None:
    wrong = Api(flavour, server.endpoint, account["AccessKeyId"], "z" * 30)
    from tests.integration.sdk import ApiError

    with pytest.raises(ApiError) as info:
        wrong.sts("GetCallerIdentity")
    assert (info.value.code, info.value.status) == ("SignatureDoesNotMatch", 400)
    if flavour == "legacy":
        # With its generated request classes the legacy SDK compares the string-to-sign after
        # the colon with its own, and renames the code when they are equal: proof they match.
        with pytest.raises(ApiError) as info:
            wrong.ram("ListUsers")
        assert (info.value.code, info.value.status) == ("InvalidAccessKeySecret", 400)
    status, body = raw.post_rpc(
        server.endpoint, raw.rpc_query(account["AccessKeyId"], "z" * 30, "GetCallerIdentity", STS)
    )
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    assert body["Message"].split(":", 1)[1].startswith("POST&%2F&AccessKeyId%3D")


@pytest.mark.parametrize("skew", [timedelta(minutes=16), -timedelta(minutes=16)])
def test_timestamp_more_than_15_minutes_off_is_expired(
    server: Server, account: dict[str, Any], skew: timedelta
) -> None:
    query = raw.rpc_query(*_ak(account), "GetCallerIdentity", STS, timestamp=raw.stamp(skew))
    status, body = raw.post_rpc(server.endpoint, query)
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")
    headers = raw.v3_headers(
        server.endpoint, *_ak(account), "GetCallerIdentity", STS, {}, date=raw.stamp(skew)
    )
    status, body = raw.send(server.endpoint, "POST", "/", headers)
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")


def test_timestamp_within_15_minutes_is_accepted(server: Server, account: dict[str, Any]) -> None:
    for skew in (timedelta(minutes=14), -timedelta(minutes=14)):
        query = raw.rpc_query(*_ak(account), "GetCallerIdentity", STS, timestamp=raw.stamp(skew))
        assert raw.post_rpc(server.endpoint, query)[0] == 200


def test_malformed_timestamp_is_invalid_timestamp_format(
    server: Server, account: dict[str, Any]
) -> None:
    query = raw.rpc_query(*_ak(account), "GetCallerIdentity", STS, timestamp="yesterday")
    status, body = raw.post_rpc(server.endpoint, query)
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Format")


def test_reused_nonce_is_signature_nonce_used(server: Server, account: dict[str, Any]) -> None:
    query = raw.rpc_query(*_ak(account), "GetCallerIdentity", STS, nonce="fixed-nonce-1")
    assert raw.post_rpc(server.endpoint, query)[0] == 200
    again = raw.rpc_query(*_ak(account), "GetCallerIdentity", STS, nonce="fixed-nonce-1")
    status, body = raw.post_rpc(server.endpoint, again)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    headers = raw.v3_headers(
        server.endpoint, *_ak(account), "GetCallerIdentity", STS, {}, nonce="fixed-nonce-1"
    )
    assert raw.send(server.endpoint, "POST", "/", headers)[1]["Code"] == "SignatureNonceUsed"


def test_a_nonce_is_spent_only_by_a_verified_request(
    server: Server, account: dict[str, Any]
) -> None:
    forged = raw.rpc_query(
        account["AccessKeyId"], "w" * 30, "GetCallerIdentity", STS, nonce="victim-nonce"
    )
    assert raw.post_rpc(server.endpoint, forged)[1]["Code"] == "SignatureDoesNotMatch"
    genuine = raw.rpc_query(*_ak(account), "GetCallerIdentity", STS, nonce="victim-nonce")
    assert raw.post_rpc(server.endpoint, genuine)[0] == 200


def test_the_same_nonce_with_another_access_key_is_fine(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    key = _user_key(root, account)
    assert (
        raw.post_rpc(
            server.endpoint, raw.rpc_query(*_ak(account), "GetCallerIdentity", STS, nonce="shared")
        )[0]
        == 200
    )
    query = raw.rpc_query(
        key["AccessKeyId"], key["AccessKeySecret"], "GetCallerIdentity", STS, nonce="shared"
    )
    assert raw.post_rpc(server.endpoint, query)[0] == 200


@pytest.mark.parametrize(
    "mangle",
    [
        lambda q, h: ({}, {"host": h["host"]}),  # nothing at all
        lambda q, h: (q, {**h, "authorization": "ACS3-HMAC-SHA256 Credential=x"}),
        lambda q, h: (q, {**h, "authorization": "garbage"}),
        lambda q, h: (q, {k: v for k, v in h.items() if k != "x-acs-signature-nonce"}),
    ],
    ids=["no-auth", "v3-missing-parts", "v3-garbage", "v3-no-nonce"],
)
def test_missing_or_malformed_authentication_is_incomplete_signature(
    server: Server, account: dict[str, Any], mangle: Any
) -> None:
    headers = raw.v3_headers(server.endpoint, *_ak(account), "GetCallerIdentity", STS, {})
    query, headers = mangle({}, headers)
    target = "/?" + urlencode(query) if query else "/?Action=GetCallerIdentity&Version=2015-04-01"
    status, body = raw.send(server.endpoint, "POST", target, headers)
    assert (status, body["Code"]) == (400, "IncompleteSignature"), body


def test_v3_signature_must_cover_the_date_and_nonce_headers(
    server: Server, account: dict[str, Any]
) -> None:
    headers = raw.v3_headers(server.endpoint, *_ak(account), "GetCallerIdentity", STS, {})
    headers["authorization"] = headers["authorization"].replace("x-acs-date;", "")
    status, body = raw.send(server.endpoint, "POST", "/", headers)
    assert (status, body["Code"]) == (400, "IncompleteSignature")
    assert "x-acs-date" in body["Message"]


def test_rpc_without_signature_nonce_is_incomplete(server: Server, account: dict[str, Any]) -> None:
    query = raw.rpc_query(*_ak(account), "GetCallerIdentity", STS)
    del query["SignatureNonce"]
    status, body = raw.post_rpc(server.endpoint, query)
    assert (status, body["Code"]) == (400, "IncompleteSignature")


def test_unknown_action_or_version_is_invalid_action_not_found(
    server: Server, account: dict[str, Any], flavour: str
) -> None:
    for action, version in (("Teleport", IMS), ("ListUsers", "2001-01-01")):
        status, body = raw.post_rpc(server.endpoint, raw.rpc_query(*_ak(account), action, version))
        assert (status, body["Code"]) == (404, "InvalidAction.NotFound")
    api = Api(flavour, server.endpoint, *_ak(account))
    expect_error("InvalidAction.NotFound", 404, api.ims, "GetPasswordPolicy")


def test_error_envelope_has_request_id_host_id_code_message_recommend(
    server: Server, account: dict[str, Any]
) -> None:
    status, body = raw.post_rpc(
        server.endpoint, raw.rpc_query(*_ak(account), "GetUser", IMS, {"UserId": "1"})
    )
    assert status == 404
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["Code"] == "EntityNotExist.User"
    assert body["HostId"] == server.endpoint


def test_missing_required_parameter_is_missing_name_and_bad_value_invalid_parameter(
    api: Api, account: dict[str, Any]
) -> None:
    expect_error("MissingUserAccessKeyId", 400, api.ims, "GetAccessKeyLastUsed")
    expect_error("MissingUserName", 400, api.ram, "GetUser")
    expect_error("InvalidParameter.MaxItems", 400, api.ims, "ListUsers", MaxItems=5000)
    expect_error(
        "InvalidParameter.Tag",
        400,
        api.ims,
        "CreateUser",
        UserPrincipalName=upn(account, "t"),
        DisplayName="t",
        Tag=[{"Key": "acs:reserved", "Value": "v"}],
    )


def test_queries_of_32_kilobytes_are_accepted(server: Server, account: dict[str, Any]) -> None:
    # A policy-like JSON document: quotes, braces and colons triple in size when encoded.
    document = '{"Statement":[' + ",".join(['{"Action":"ram:*","Resource":"*"}'] * 600) + "]}"
    query = raw.rpc_query(*_ak(account), "GetDefaultDomain", IMS, {"PolicyDocument": document})
    assert len(urlencode(query)) > 36 * 1024
    status, body = raw.post_rpc(server.endpoint, query)
    assert (status, body["DefaultDomainName"]) == (200, f"{account['AccountName']}.onaliyun.com")


def test_a_security_token_with_a_long_term_key_is_a_mismatch(
    server: Server, account: dict[str, Any]
) -> None:
    """Tokens belong to temporary credentials (STS.…): tests/integration/test_sts.py."""
    query = raw.rpc_query(*_ak(account), "GetCallerIdentity", STS, {"SecurityToken": "tok"})
    status, body = raw.post_rpc(server.endpoint, query)
    assert (status, body["Code"]) == (400, "InvalidSecurityToken.MismatchWithAccessKey")


def test_get_caller_identity_for_the_root_and_a_ram_user(
    server: Server, root: Api, account: dict[str, Any], flavour: str
) -> None:
    me = Api(flavour, server.endpoint, *_ak(account)).sts("GetCallerIdentity")
    assert (me["IdentityType"], me["Arn"], me["AccountId"]) == (
        "Account",
        f"acs:ram::{account['AccountId']}:root",
        account["AccountId"],
    )
    key = _user_key(root, account)
    user_id = root.ims("GetUser", UserPrincipalName=upn(account, "alice"))["User"]["UserId"]
    them = as_user(server, flavour, {"AccessKey": key}).sts("GetCallerIdentity")
    assert (them["IdentityType"], them["Arn"], them["UserId"], them["AccountId"]) == (
        "RAMUser",
        f"acs:ram::{account['AccountId']}:user/alice",
        user_id,
        account["AccountId"],
    )


def test_a_ram_user_key_gets_no_permission_for_everything_but_who_am_i(
    server: Server, root: Api, account: dict[str, Any], flavour: str
) -> None:
    user = as_user(server, flavour, {"AccessKey": _user_key(root, account)})
    error = expect_error("NoPermission", 403, user.ims, "ListUsers")
    expect_error("NoPermission", 403, user.ims, "CreateAccessKey")
    expect_error("NoPermission", 403, user.ram, "ListAccessKeys")
    assert (
        len(
            root.ims("ListAccessKeys", UserPrincipalName=upn(account, "alice"))["AccessKeys"][
                "AccessKey"
            ]
        )
        == 1
    )
    if flavour != "legacy":
        _, body = raw.post_rpc(
            server.endpoint, raw.rpc_query(user.access_key_id, user._secret, "ListUsers", IMS)
        )
        assert body["AccessDeniedDetail"]["AuthAction"] == "ram:ListUsers"
        assert body["AccessDeniedDetail"]["NoPermissionType"] == "ImplicitDeny"
        assert body["AccessDeniedDetail"]["AuthPrincipalType"] == "SubUser"
        assert error.code == "NoPermission"


def test_accounts_cannot_see_each_other(
    server: Server, root: Api, account: dict[str, Any], flavour: str
) -> None:
    other = server.create_account(f"o{account['AccountName']}")
    them = Api(flavour, server.endpoint, other["AccessKeyId"], other["AccessKeySecret"])
    key = _user_key(root, account)
    user_id = root.ims("GetUser", UserPrincipalName=upn(account, "alice"))["User"]["UserId"]
    expect_error("EntityNotExist.User", 404, them.ims, "GetUser", UserId=user_id)
    expect_error(
        "EntityNotExist.User", 404, them.ims, "GetUser", UserAccessKeyId=key["AccessKeyId"]
    )
    expect_error(
        "EntityNotExist.User.AccessKey",
        404,
        them.ims,
        "UpdateAccessKey",
        UserAccessKeyId=key["AccessKeyId"],
        Status="Inactive",
    )
    expect_error("EntityNotExist.User", 404, them.ims, "ListAccessKeysInRecycleBin", UserId=user_id)
    assert them.ims("ListUsers")["Users"]["User"] == []
    assert (
        root.ims("ListAccessKeys", UserPrincipalName=upn(account, "alice"))["AccessKeys"][
            "AccessKey"
        ][0]["Status"]
        == "Active"
    )


def test_healthz_answers_200_when_the_store_is_reachable(server: Server) -> None:
    status, body = raw.send(server.endpoint, "GET", "/healthz", {"host": server.endpoint})
    assert (status, body["status"]) == (200, "ok")
    assert body["trail"]["writable"] is True
