"""AccessKey lifecycle rules, through every SDK flavour, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.conftest import as_user, expect_error
from tests.integration.sdk import Api, ApiError
from tests.integration.server import Server
from tests.integration.steps import bin_key, disable, make_key, make_user, outcome, user_id_of

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _date(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_ids_and_secrets_have_the_documented_shapes(api: Api, account: dict[str, Any]) -> None:
    assert re.fullmatch(r"[1-9]\d{15}", account["AccountId"])
    principal = make_user(api, account)
    assert re.fullmatch(r"[1-9]\d{15}", user_id_of(api, principal))
    key = make_key(api, principal)
    assert re.fullmatch(r"LTAI[A-Za-z0-9]{20}", key["AccessKeyId"])
    assert re.fullmatch(r"[A-Za-z0-9]{30}", key["AccessKeySecret"])
    assert DATE.match(key["CreateDate"])


def test_new_key_is_active_and_its_secret_appears_only_in_the_create_reply(
    api: Api, account: dict[str, Any]
) -> None:
    principal = make_user(api, account)
    key = make_key(api, principal)
    assert key["Status"] == "Active"
    listed = api.ims("ListAccessKeys", UserPrincipalName=principal)
    assert [k["AccessKeyId"] for k in listed["AccessKeys"]["AccessKey"]] == [key["AccessKeyId"]]
    for reply in (
        listed,
        api.ram("ListAccessKeys", UserName="alice"),
        api.ims(
            "GetAccessKeyLastUsed", UserPrincipalName=principal, UserAccessKeyId=key["AccessKeyId"]
        ),
        api.ims("GetUser", UserAccessKeyId=key["AccessKeyId"]),
    ):
        assert key["AccessKeySecret"] not in str(reply)


def test_ram_user_holds_at_most_two_keys(api: Api, account: dict[str, Any]) -> None:
    principal = make_user(api, account)
    make_key(api, principal)
    second = make_key(api, principal)
    disable(api, principal, second["AccessKeyId"])  # Inactive keys count too
    expect_error("LimitExceeded.User.AccessKey", 409, make_key, api, principal)


def test_ram_create_access_key_names_the_user_by_user_name(
    api: Api, account: dict[str, Any]
) -> None:
    api.ram("CreateUser", UserName="bob")
    created = api.ram("CreateAccessKey", UserName="bob")["AccessKey"]
    listed = api.ram("ListAccessKeys", UserName="bob")["AccessKeys"]["AccessKey"]
    assert [k["AccessKeyId"] for k in listed] == [created["AccessKeyId"]]
    api.ram(
        "UpdateAccessKey", UserName="bob", UserAccessKeyId=created["AccessKeyId"], Status="Inactive"
    )
    assert (
        api.ram("ListAccessKeys", UserName="bob")["AccessKeys"]["AccessKey"][0]["Status"]
        == "Inactive"
    )
    api.ram("DeleteAccessKey", UserName="bob", UserAccessKeyId=created["AccessKeyId"])
    assert api.ram("ListAccessKeys", UserName="bob")["AccessKeys"]["AccessKey"] == []
    expect_error("EntityNotExist.User", 404, api.ram, "ListAccessKeys", UserName="nobody")


def test_account_root_holds_at_most_five_keys(api: Api, account: dict[str, Any]) -> None:
    for _ in range(4):  # the account was created with one
        api.ims("CreateAccessKey")
    assert len(api.ims("ListAccessKeys")["AccessKeys"]["AccessKey"]) == 5
    expect_error("LimitExceeded.User.AccessKey", 409, api.ims, "CreateAccessKey")


def test_key_limit_holds_under_concurrent_requests(server: Server, account: dict[str, Any]) -> None:
    root = Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    principal = make_user(root, account)

    def attempt(_: int) -> str:
        client = Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
        return outcome(
            lambda: client.ims("CreateAccessKey", UserPrincipalName=principal), "created"
        )

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(attempt, range(12)))
    assert outcomes.count("created") == 2, outcomes
    assert set(outcomes) == {"created", "LimitExceeded.User.AccessKey"}
    assert (
        len(root.ims("ListAccessKeys", UserPrincipalName=principal)["AccessKeys"]["AccessKey"]) == 2
    )


def test_disabled_key_is_refused_on_the_very_next_request(
    server: Server, api: Api, account: dict[str, Any], flavour: str
) -> None:
    principal = make_user(api, account)
    key = make_key(api, principal)
    user = as_user(server, flavour, {"AccessKey": key})
    assert user.sts("GetCallerIdentity")["IdentityType"] == "RAMUser"
    disable(api, principal, key["AccessKeyId"])
    expect_error("InvalidAccessKeyId.Inactive", 400, user.sts, "GetCallerIdentity")
    api.ims(
        "UpdateAccessKey",
        UserPrincipalName=principal,
        UserAccessKeyId=key["AccessKeyId"],
        Status="Active",
    )
    assert user.sts("GetCallerIdentity")["UserId"] == user_id_of(api, principal)


def test_update_access_key_status_must_be_active_or_inactive(
    api: Api, account: dict[str, Any]
) -> None:
    principal = make_user(api, account)
    key = make_key(api, principal)
    expect_error(
        "InvalidParameter.Status",
        400,
        api.ims,
        "UpdateAccessKey",
        UserPrincipalName=principal,
        UserAccessKeyId=key["AccessKeyId"],
        Status="Paused",
    )
    expect_error(
        "MissingUserAccessKeyId",
        400,
        api.ims,
        "UpdateAccessKey",
        UserPrincipalName=principal,
        Status="Inactive",
    )


def test_deleting_an_active_key_is_refused(api: Api, account: dict[str, Any]) -> None:
    principal = make_user(api, account)
    key = make_key(api, principal)
    expect_error(
        "DeleteConflict.AccessKey.Active",
        409,
        api.ims,
        "DeleteAccessKey",
        UserPrincipalName=principal,
        UserAccessKeyId=key["AccessKeyId"],
    )
    assert (
        len(api.ims("ListAccessKeys", UserPrincipalName=principal)["AccessKeys"]["AccessKey"]) == 1
    )


def test_deleting_an_inactive_key_moves_it_to_the_bin_for_30_days(
    server: Server, api: Api, account: dict[str, Any], flavour: str
) -> None:
    principal = make_user(api, account)
    key = make_key(api, principal)
    before = datetime.now(UTC).replace(microsecond=0)
    bin_key(api, principal, key["AccessKeyId"])
    assert api.ims("ListAccessKeys", UserPrincipalName=principal)["AccessKeys"]["AccessKey"] == []
    binned = api.ims("ListAccessKeysInRecycleBin", UserId=user_id_of(api, principal))["AccessKeys"][
        "AccessKey"
    ]
    assert [b["AccessKeyId"] for b in binned] == [key["AccessKeyId"]]
    recycled, deleted = _date(binned[0]["RecycleDate"]), _date(binned[0]["DeleteDate"])
    assert before - timedelta(seconds=2) <= recycled <= datetime.now(UTC) + timedelta(seconds=2)
    assert deleted - recycled == timedelta(days=30)
    assert binned[0]["CreateDate"] == key["CreateDate"]
    user = as_user(server, flavour, {"AccessKey": key})
    expect_error("InvalidAccessKeyId.NotFound", 404, user.sts, "GetCallerIdentity")


def test_fourth_deleted_key_evicts_the_oldest_from_the_bin(
    api: Api, account: dict[str, Any]
) -> None:
    principal = make_user(api, account)
    binned_order = []
    for _ in range(4):
        key = make_key(api, principal)
        bin_key(api, principal, key["AccessKeyId"])
        binned_order.append(key["AccessKeyId"])
    binned = api.ims("ListAccessKeysInRecycleBin", UserId=user_id_of(api, principal))["AccessKeys"][
        "AccessKey"
    ]
    assert sorted(b["AccessKeyId"] for b in binned) == sorted(binned_order[1:])
    expect_error(
        "EntityNotExist.User.AccessKey",
        404,
        api.ims,
        "GetAccessKeyInfoInRecycleBin",
        UserAccessKeyId=binned_order[0],
    )


def test_restore_brings_the_key_back_active_with_its_old_secret_and_create_date(
    server: Server, api: Api, account: dict[str, Any], flavour: str
) -> None:
    principal = make_user(api, account)
    key = make_key(api, principal)
    bin_key(api, principal, key["AccessKeyId"])
    user_id = user_id_of(api, principal)
    api.ims("RestoreAccessKeyFromRecycleBin", UserId=user_id, UserAccessKeyId=key["AccessKeyId"])
    listed = api.ims("ListAccessKeys", UserPrincipalName=principal)["AccessKeys"]["AccessKey"]
    assert [(k["AccessKeyId"], k["Status"], k["CreateDate"]) for k in listed] == [
        (key["AccessKeyId"], "Active", key["CreateDate"])
    ]
    assert api.ims("ListAccessKeysInRecycleBin", UserId=user_id)["AccessKeys"]["AccessKey"] == []
    user = as_user(server, flavour, {"AccessKey": key})  # signs with the secret from creation
    assert user.sts("GetCallerIdentity")["UserId"] == user_id


def test_restore_is_refused_when_the_user_already_has_two_keys(
    api: Api, account: dict[str, Any]
) -> None:
    principal = make_user(api, account)
    key = make_key(api, principal)
    bin_key(api, principal, key["AccessKeyId"])
    make_key(api, principal)
    make_key(api, principal)
    expect_error(
        "LimitExceeded.User.AccessKey",
        409,
        api.ims,
        "RestoreAccessKeyFromRecycleBin",
        UserId=user_id_of(api, principal),
        UserAccessKeyId=key["AccessKeyId"],
    )


def test_purged_key_answers_entity_not_exist_for_every_action(
    api: Api, account: dict[str, Any]
) -> None:
    principal = make_user(api, account)
    key = make_key(api, principal)["AccessKeyId"]
    bin_key(api, principal, key)
    user_id = user_id_of(api, principal)
    # live-key actions on a binned key already answer EntityNotExist.User.AccessKey
    for action, extra in (
        ("UpdateAccessKey", {"Status": "Active"}),
        ("DeleteAccessKey", {}),
        ("GetAccessKeyLastUsed", {}),
    ):
        expect_error(
            "EntityNotExist.User.AccessKey",
            404,
            api.ims,
            action,
            UserPrincipalName=principal,
            UserAccessKeyId=key,
            **extra,
        )
    api.ims("DeleteAccessKeyInRecycleBin", UserId=user_id, UserAccessKeyId=key)
    for action, params in (
        ("UpdateAccessKey", {"UserPrincipalName": principal, "Status": "Active"}),
        ("DeleteAccessKey", {"UserPrincipalName": principal}),
        ("GetAccessKeyLastUsed", {"UserPrincipalName": principal}),
        ("GetAccessKeyInfoInRecycleBin", {}),
        ("RestoreAccessKeyFromRecycleBin", {"UserId": user_id}),
        ("DeleteAccessKeyInRecycleBin", {"UserId": user_id}),
    ):
        expect_error(
            "EntityNotExist.User.AccessKey", 404, api.ims, action, UserAccessKeyId=key, **params
        )
    assert api.ims("ListAccessKeysInRecycleBin", UserId=user_id)["AccessKeys"]["AccessKey"] == []


def test_get_access_key_info_in_recycle_bin_reports_its_user(
    api: Api, account: dict[str, Any]
) -> None:
    principal = make_user(api, account)
    key = make_key(api, principal)
    bin_key(api, principal, key["AccessKeyId"])
    info = api.ims("GetAccessKeyInfoInRecycleBin", UserAccessKeyId=key["AccessKeyId"])["AccessKey"]
    assert info["UserId"] == user_id_of(api, principal)
    assert info["UserPrincipalName"] == principal
    assert info["UserRecycled"] is False
    assert info["CreateDate"] == key["CreateDate"]
    api.ims("DeleteUser", UserPrincipalName=principal)
    info = api.ims("GetAccessKeyInfoInRecycleBin", UserAccessKeyId=key["AccessKeyId"])["AccessKey"]
    assert info["UserRecycled"] is True


def test_restore_is_refused_while_the_user_is_in_the_user_bin(
    api: Api, account: dict[str, Any]
) -> None:
    principal = make_user(api, account)
    key = make_key(api, principal)
    disable(api, principal, key["AccessKeyId"])
    user_id = user_id_of(api, principal)
    api.ims("DeleteUser", UserPrincipalName=principal)
    expect_error(
        "InvalidOperation.UserInRecycleBin",
        409,
        api.ims,
        "RestoreAccessKeyFromRecycleBin",
        UserId=user_id,
        UserAccessKeyId=key["AccessKeyId"],
    )
    api.ims("RestoreUserFromRecycleBin", UserId=user_id)
    api.ims("RestoreAccessKeyFromRecycleBin", UserId=user_id, UserAccessKeyId=key["AccessKeyId"])
    listed = api.ims("ListAccessKeys", UserPrincipalName=principal)["AccessKeys"]["AccessKey"]
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(key["AccessKeyId"], "Active")]


def test_root_keys_follow_the_same_recycle_bin_rules(
    server: Server, api: Api, account: dict[str, Any], flavour: str
) -> None:
    keys = [api.ims("CreateAccessKey")["AccessKey"] for _ in range(4)]
    for key in keys:
        api.ims("UpdateAccessKey", UserAccessKeyId=key["AccessKeyId"], Status="Inactive")
    expect_error(
        "DeleteConflict.AccessKey.Active",
        409,
        api.ims,
        "DeleteAccessKey",
        UserAccessKeyId=account["AccessKeyId"],
    )
    for key in keys:
        api.ims("DeleteAccessKey", UserAccessKeyId=key["AccessKeyId"])
    binned = api.ims("ListAccessKeysInRecycleBin")["AccessKeys"]["AccessKey"]
    assert sorted(b["AccessKeyId"] for b in binned) == sorted(k["AccessKeyId"] for k in keys[1:])
    info = api.ims("GetAccessKeyInfoInRecycleBin", UserAccessKeyId=keys[3]["AccessKeyId"])[
        "AccessKey"
    ]
    assert info["UserRecycled"] is False
    api.ims("RestoreAccessKeyFromRecycleBin", UserAccessKeyId=keys[3]["AccessKeyId"])
    restored = as_user(server, flavour, {"AccessKey": keys[3]})
    assert restored.sts("GetCallerIdentity")["IdentityType"] == "Account"
    api.ims("DeleteAccessKeyInRecycleBin", UserAccessKeyId=keys[2]["AccessKeyId"])
    assert len(api.ims("ListAccessKeysInRecycleBin")["AccessKeys"]["AccessKey"]) == 1


def test_access_key_last_used_records_time_and_service_within_five_seconds(
    server: Server, api: Api, account: dict[str, Any], flavour: str
) -> None:
    import time

    principal = make_user(api, account)
    key = make_key(api, principal)
    never = api.ims(
        "GetAccessKeyLastUsed", UserPrincipalName=principal, UserAccessKeyId=key["AccessKeyId"]
    )
    assert never["AccessKeyLastUsed"]["LastUsedDate"] == ""
    wrong = Api(flavour, server.endpoint, key["AccessKeyId"], "x" * 30)
    try:
        wrong.sts("GetCallerIdentity")
    except ApiError:
        pass
    except Exception:  # the legacy SDK may rewrite or raise differently; a failure is a failure
        pass
    time.sleep(1.5)
    still = api.ims(
        "GetAccessKeyLastUsed", UserPrincipalName=principal, UserAccessKeyId=key["AccessKeyId"]
    )
    assert still["AccessKeyLastUsed"]["LastUsedDate"] == "", "a failed request must not count"
    used_at = datetime.now(UTC).replace(microsecond=0)
    as_user(server, flavour, {"AccessKey": key}).sts("GetCallerIdentity")
    deadline = time.monotonic() + 5
    while True:
        seen = api.ims(
            "GetAccessKeyLastUsed", UserPrincipalName=principal, UserAccessKeyId=key["AccessKeyId"]
        )
        if seen["AccessKeyLastUsed"]["LastUsedDate"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    last = seen["AccessKeyLastUsed"]
    assert abs(_date(last["LastUsedDate"]) - used_at) <= timedelta(seconds=2)
    assert last["ServiceName"] == "sts"
    ram_view = api.ram("GetAccessKeyLastUsed", UserName="alice", UserAccessKeyId=key["AccessKeyId"])
    assert ram_view["AccessKeyLastUsed"]["LastUsedDate"] == last["LastUsedDate"]


def test_immediate_deletion_removes_the_key_at_once_without_disabling(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    server.cli("account", "update", "--name", account["AccountName"], "--key-deletion", "immediate")
    principal = make_user(root, account)
    key = make_key(root, principal)
    root.ims("DeleteAccessKey", UserPrincipalName=principal, UserAccessKeyId=key["AccessKeyId"])
    assert root.ims("ListAccessKeys", UserPrincipalName=principal)["AccessKeys"]["AccessKey"] == []
    assert (
        root.ims("ListAccessKeysInRecycleBin", UserId=user_id_of(root, principal))["AccessKeys"][
            "AccessKey"
        ]
        == []
    )
    expect_error(
        "InvalidAccessKeyId.NotFound",
        404,
        as_user(server, "v3", {"AccessKey": key}).sts,
        "GetCallerIdentity",
    )
    server.cli(
        "account", "update", "--name", account["AccountName"], "--key-deletion", "recycle-bin"
    )
    second = make_key(root, principal)
    expect_error(
        "DeleteConflict.AccessKey.Active",
        409,
        root.ims,
        "DeleteAccessKey",
        UserPrincipalName=principal,
        UserAccessKeyId=second["AccessKeyId"],
    )


def test_racing_user_deletion_and_key_creation_never_fails_with_a_server_error(
    server: Server, account: dict[str, Any]
) -> None:
    """DeleteUser locks the account then the user; CreateAccessKey locks the user and its
    insert checks the account. Neither may deadlock the other."""
    root = Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    principals = [make_user(root, account, f"race{i}") for i in range(8)]

    def create(principal: str) -> str:
        client = Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
        return outcome(
            lambda: client.ims("CreateAccessKey", UserPrincipalName=principal), "created"
        )

    def delete(principal: str) -> str:
        client = Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
        return outcome(lambda: client.ims("DeleteUser", UserPrincipalName=principal), "deleted")

    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [
            pool.submit(fn, p) for p in principals for fn in (create, delete) for _ in range(2)
        ]
        outcomes = [f.result() for f in futures]
    assert "InternalError" not in outcomes, outcomes
    assert set(outcomes) <= {
        "created",
        "deleted",
        "DeleteConflict.User.AccessKey",
        "EntityNotExist.User",
        "LimitExceeded.User.AccessKey",
    }, outcomes
