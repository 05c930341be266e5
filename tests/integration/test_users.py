"""Users, the default domain and the user recycle bin, through every SDK flavour."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import domain_of, expect_error, upn
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.steps import user_with_inactive_key


def _create(api: Api, account: dict[str, Any], name: str, **extra: Any) -> dict[str, Any]:
    return api.ims("CreateUser", UserPrincipalName=upn(account, name), DisplayName=name, **extra)[
        "User"
    ]  # type: ignore[no-any-return]


def test_default_domain_is_the_account_name_under_onaliyun(
    api: Api, account: dict[str, Any]
) -> None:
    assert (
        api.ims("GetDefaultDomain")["DefaultDomainName"] == f"{account['AccountName']}.onaliyun.com"
    )


def test_set_default_domain_renames_every_principal(api: Api, account: dict[str, Any]) -> None:
    _create(api, account, "alice")
    new = f"x{account['AccountName']}.onaliyun.com"
    assert api.ims("SetDefaultDomain", DefaultDomainName=new)["DefaultDomainName"] == new
    assert api.ims("GetDefaultDomain")["DefaultDomainName"] == new
    assert (
        api.ims("GetUser", UserPrincipalName=f"alice@{new}")["User"]["UserPrincipalName"]
        == f"alice@{new}"
    )
    expect_error(
        "InvalidParameter.UserPrincipalName",
        400,
        api.ims,
        "GetUser",
        UserPrincipalName=upn(account, "alice"),
    )
    expect_error(
        "InvalidParameter.DefaultDomainName",
        400,
        api.ims,
        "SetDefaultDomain",
        DefaultDomainName="example.com",
    )


def test_principal_name_outside_the_default_domain_is_invalid(
    api: Api, account: dict[str, Any]
) -> None:
    expect_error(
        "InvalidParameter.UserPrincipalName",
        400,
        api.ims,
        "CreateUser",
        UserPrincipalName="alice@other.onaliyun.com",
        DisplayName="Alice",
    )
    expect_error(
        "InvalidParameter.UserPrincipalName",
        400,
        api.ims,
        "CreateUser",
        UserPrincipalName=f"bad name@{domain_of(account)}",
        DisplayName="Alice",
    )


def test_ims_create_user_requires_a_display_name_of_1_to_24_characters(
    api: Api, account: dict[str, Any]
) -> None:
    expect_error(
        "MissingDisplayName", 400, api.ims, "CreateUser", UserPrincipalName=upn(account, "a")
    )
    expect_error(
        "InvalidParameter.DisplayName",
        400,
        api.ims,
        "CreateUser",
        UserPrincipalName=upn(account, "a"),
        DisplayName="x" * 25,
    )
    user = _create(api, account, "a", Comments="hello", Tag=[{"Key": "env", "Value": "dev"}])
    assert user["DisplayName"] == "a"
    assert user["Comments"] == "hello"
    assert user["Tags"]["Tag"] == [{"TagKey": "env", "TagValue": "dev"}]
    assert user["UserPrincipalName"] == upn(account, "a")


def test_ram_create_user_defaults_the_display_name_to_the_user_name(api: Api) -> None:
    user = api.ram("CreateUser", UserName="carol")["User"]
    assert (user["UserName"], user["DisplayName"]) == ("carol", "carol")
    got = api.ram("GetUser", UserName="carol")["User"]
    assert got["UserId"] == user["UserId"]
    expect_error("MissingUserName", 400, api.ram, "CreateUser")
    expect_error("InvalidParameter.UserName", 400, api.ram, "CreateUser", UserName="no spaces")


def test_duplicate_user_is_entity_already_exists_and_missing_is_entity_not_exist(
    api: Api, account: dict[str, Any]
) -> None:
    _create(api, account, "alice")
    expect_error("EntityAlreadyExists.User", 409, _create, api, account, "alice")
    expect_error("EntityAlreadyExists.User", 409, api.ram, "CreateUser", UserName="alice")
    expect_error(
        "EntityNotExist.User", 404, api.ims, "GetUser", UserPrincipalName=upn(account, "nobody")
    )
    expect_error("EntityNotExist.User", 404, api.ram, "GetUser", UserName="nobody")
    expect_error("EntityNotExist.User", 404, api.ims, "GetUser", UserId="1234567890123456")


def test_get_user_by_principal_name_user_id_or_access_key_id(
    api: Api, account: dict[str, Any]
) -> None:
    user = _create(api, account, "alice")
    key = api.ims("CreateAccessKey", UserPrincipalName=upn(account, "alice"))["AccessKey"][
        "AccessKeyId"
    ]
    for params in (
        {"UserPrincipalName": upn(account, "alice")},
        {"UserId": user["UserId"]},
        {"UserAccessKeyId": key},
    ):
        got = api.ims("GetUser", **params)["User"]
        assert (got["UserId"], got["UserName"]) == (user["UserId"], "alice")
    expect_error("MissingUserPrincipalName", 400, api.ims, "GetUser")
    expect_error(
        "EntityNotExist.User", 404, api.ims, "GetUser", UserAccessKeyId=account["AccessKeyId"]
    )


def test_update_user_renames_and_changes_fields(api: Api, account: dict[str, Any]) -> None:
    user = _create(api, account, "alice")
    _create(api, account, "taken")
    updated = api.ims(
        "UpdateUser",
        UserId=user["UserId"],
        NewUserPrincipalName=upn(account, "alicia"),
        NewDisplayName="Alicia",
        NewComments="renamed",
    )["User"]
    assert (updated["UserPrincipalName"], updated["DisplayName"], updated["Comments"]) == (
        upn(account, "alicia"),
        "Alicia",
        "renamed",
    )
    expect_error(
        "EntityAlreadyExists.User",
        409,
        api.ims,
        "UpdateUser",
        UserId=user["UserId"],
        NewUserPrincipalName=upn(account, "taken"),
    )
    ram_updated = api.ram("UpdateUser", UserName="alicia", NewUserName="ali", NewDisplayName="A")[
        "User"
    ]
    assert (ram_updated["UserName"], ram_updated["DisplayName"]) == ("ali", "A")
    expect_error(
        "InvalidParameter.NewDisplayName",
        400,
        api.ims,
        "UpdateUser",
        UserId=user["UserId"],
        NewDisplayName="y" * 25,
    )


def test_list_users_pages_with_marker_and_max_items(api: Api, account: dict[str, Any]) -> None:
    names = [f"u{i:02d}" for i in range(7)]
    for name in names:
        _create(api, account, name)
    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        params: dict[str, Any] = {"MaxItems": 3}
        if marker:
            params["Marker"] = marker
        page = api.ims("ListUsers", **params)
        pages += 1
        seen += [u["UserPrincipalName"].split("@")[0] for u in page["Users"]["User"]]
        if not page["IsTruncated"]:
            assert not page["Marker"]
            break
        marker = page["Marker"]
    assert (seen, pages) == (names, 3)
    ram_page = api.ram("ListUsers", MaxItems=5)
    assert ram_page["IsTruncated"] is True and len(ram_page["Users"]["User"]) == 5
    rest = api.ram("ListUsers", Marker=ram_page["Marker"])
    assert [u["UserName"] for u in rest["Users"]["User"]] == names[5:]
    expect_error("InvalidParameter.MaxItems", 400, api.ims, "ListUsers", MaxItems=0)
    expect_error("InvalidParameter.Marker", 400, api.ims, "ListUsers", Marker="@@not-a-marker@@")


def test_delete_user_is_refused_while_it_has_an_active_key(
    api: Api, account: dict[str, Any]
) -> None:
    _create(api, account, "alice")
    api.ims("CreateAccessKey", UserPrincipalName=upn(account, "alice"))
    expect_error(
        "DeleteConflict.User.AccessKey",
        409,
        api.ims,
        "DeleteUser",
        UserPrincipalName=upn(account, "alice"),
    )
    expect_error("DeleteConflict.User.AccessKey", 409, api.ram, "DeleteUser", UserName="alice")
    assert (
        api.ims("GetUser", UserPrincipalName=upn(account, "alice"))["User"]["UserName"] == "alice"
    )


def test_delete_user_moves_it_and_its_inactive_keys_to_the_recycle_bins(
    api: Api, account: dict[str, Any]
) -> None:
    _, uid, key = user_with_inactive_key(api, account)
    api.ims("DeleteUser", UserPrincipalName=upn(account, "alice"))
    expect_error(
        "EntityNotExist.User", 404, api.ims, "GetUser", UserPrincipalName=upn(account, "alice")
    )
    assert api.ims("ListUsers")["Users"]["User"] == []
    binned = api.ims("ListUsersInRecycleBin")["Users"]["User"]
    assert [(u["UserId"], u["UserPrincipalName"]) for u in binned] == [(uid, upn(account, "alice"))]
    assert binned[0]["DeleteDate"] > binned[0]["RecycleDate"]
    in_bin = api.ims("GetUserInRecycleBin", UserId=uid)["User"]
    assert in_bin["UserPrincipalName"] == upn(account, "alice")
    assert api.ims("GetUserInRecycleBin", UserAccessKeyId=key)["User"]["UserId"] == uid
    keys = api.ims("ListAccessKeysInRecycleBin", UserId=uid)["AccessKeys"]["AccessKey"]
    assert [k["AccessKeyId"] for k in keys] == [key]
    filtered = api.ims(
        "ListUsersInRecycleBin", Filter=f"UserPrincipalName eq {upn(account, 'alice')}"
    )
    assert len(filtered["Users"]["User"]) == 1
    expect_error(
        "InvalidParameter.Filter", 400, api.ims, "ListUsersInRecycleBin", Filter="DisplayName eq x"
    )


def test_restore_user_restores_only_the_user(api: Api, account: dict[str, Any]) -> None:
    _, uid, key = user_with_inactive_key(api, account)
    api.ims("DeleteUser", UserId=uid)
    api.ims("RestoreUserFromRecycleBin", UserId=uid)
    assert api.ims("GetUser", UserId=uid)["User"]["UserName"] == "alice"
    assert api.ims("ListUsersInRecycleBin")["Users"]["User"] == []
    assert (
        api.ims("ListAccessKeys", UserPrincipalName=upn(account, "alice"))["AccessKeys"][
            "AccessKey"
        ]
        == []
    )
    binned = api.ims("ListAccessKeysInRecycleBin", UserId=uid)["AccessKeys"]["AccessKey"]
    assert [k["AccessKeyId"] for k in binned] == [key]


def test_restore_user_is_refused_when_a_live_user_took_the_name(
    api: Api, account: dict[str, Any]
) -> None:
    user = _create(api, account, "alice")
    api.ims("DeleteUser", UserId=user["UserId"])
    _create(api, account, "alice")
    expect_error(
        "EntityAlreadyExists.User", 409, api.ims, "RestoreUserFromRecycleBin", UserId=user["UserId"]
    )
    assert len(api.ims("ListUsersInRecycleBin")["Users"]["User"]) == 1


def test_delete_user_in_recycle_bin_purges_the_user_and_its_keys(
    api: Api, account: dict[str, Any]
) -> None:
    _, uid, key = user_with_inactive_key(api, account)
    api.ims("DeleteUser", UserId=uid)
    api.ims("DeleteUserInRecycleBin", UserId=uid)
    assert api.ims("ListUsersInRecycleBin")["Users"]["User"] == []
    expect_error("EntityNotExist.User", 404, api.ims, "GetUserInRecycleBin", UserId=uid)
    expect_error(
        "EntityNotExist.User.AccessKey",
        404,
        api.ims,
        "GetAccessKeyInfoInRecycleBin",
        UserAccessKeyId=key,
    )
    expect_error("EntityNotExist.User", 404, api.ims, "RestoreUserFromRecycleBin", UserId=uid)


def test_live_user_cannot_be_restored_or_purged_from_the_bin(
    api: Api, account: dict[str, Any]
) -> None:
    user = _create(api, account, "alice")
    expect_error(
        "EntityNotExist.User", 404, api.ims, "RestoreUserFromRecycleBin", UserId=user["UserId"]
    )
    expect_error(
        "EntityNotExist.User", 404, api.ims, "DeleteUserInRecycleBin", UserId=user["UserId"]
    )
    expect_error("MissingUserId", 400, api.ims, "DeleteUserInRecycleBin")


def test_user_recycle_bin_holds_1000_users_and_purges_the_oldest(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def churn(i: int) -> str:
        client = Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
        name = f"b{i:04d}"
        user_id = client.ram("CreateUser", UserName=name)["User"]["UserId"]
        client.ram("DeleteUser", UserName=name)
        return str(user_id)

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(churn, range(1000)))
    assert len(set(ids)) == 1000
    # Parallel clients bin in no fixed order: the bin lists earliest first, so ask it.
    oldest = root.ims("ListUsersInRecycleBin", MaxItems=1)["Users"]["User"][0]["UserId"]
    root.ram("CreateUser", UserName="last")
    root.ram("DeleteUser", UserName="last")
    total = 0
    marker = None
    seen = set()
    while True:
        params: dict[str, Any] = {"MaxItems": 100}
        if marker:
            params["Marker"] = marker
        page = root.ims("ListUsersInRecycleBin", **params)
        seen |= {u["UserId"] for u in page["Users"]["User"]}
        total += len(page["Users"]["User"])
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert total == 1000
    assert oldest not in seen
