"""RAM roles through the official SDKs (V3, v2 and the legacy core), on both backends:
create, read, list, update, delete, and their policies."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.integration.conftest import expect_error
from tests.integration.sdk import Api


def trust(account_id: str, **condition: str) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": [f"acs:ram::{account_id}:root"]},
    }
    if condition:
        statement["Condition"] = {"StringEquals": condition}
    return json.dumps({"Version": "1", "Statement": [statement]})


def account_id(api: Api) -> str:
    return str(api.sts("GetCallerIdentity")["AccountId"])


def test_a_role_from_creation_to_deletion(api: Api) -> None:
    me = account_id(api)
    document = trust(me)
    created = api.ram(
        "CreateRole", RoleName="Deployer", AssumeRolePolicyDocument=document, Description="ci"
    )["Role"]
    assert re.fullmatch(r"[1-9][0-9]{18}", created["RoleId"])
    assert created["Arn"] == f"acs:ram::{me}:role/deployer"  # the name lower-cased, as the vendor
    assert created["RoleName"] == "Deployer" and created["Description"] == "ci"
    assert created["MaxSessionDuration"] == 3600 and created["AssumeRolePolicyDocument"] == document
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created["CreateDate"])
    # Names are unique whatever their case, and found whatever their case.
    expect_error(
        "EntityAlreadyExists.Role",
        409,
        api.ram,
        "CreateRole",
        RoleName="deployer",
        AssumeRolePolicyDocument=document,
    )
    got = api.ram("GetRole", RoleName="DEPLOYER")["Role"]
    assert got["RoleId"] == created["RoleId"] and got["AssumeRolePolicyDocument"] == document
    # Update: each field given changes, the others stay.
    wider = trust(me, **{"sts:ExternalId": "abc-123"})
    updated = api.ram(
        "UpdateRole",
        RoleName="Deployer",
        NewAssumeRolePolicyDocument=wider,
        NewMaxSessionDuration=7200,
    )["Role"]
    assert updated["AssumeRolePolicyDocument"] == wider and updated["MaxSessionDuration"] == 7200
    assert updated["Description"] == "ci"
    # Policies attach to a role as to a user.
    api.ram(
        "AttachPolicyToRole",
        RoleName="Deployer",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    expect_error(
        "EntityAlreadyExists.Role.Policy",
        409,
        api.ram,
        "AttachPolicyToRole",
        RoleName="Deployer",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    held = api.ram("ListPoliciesForRole", RoleName="Deployer")["Policies"]["Policy"]
    assert [p["PolicyName"] for p in held] == ["AliyunRAMReadOnlyAccess"]
    entities = api.ram(
        "ListEntitiesForPolicy", PolicyName="AliyunRAMReadOnlyAccess", PolicyType="System"
    )
    [role] = entities["Roles"]["Role"]
    assert role["RoleName"] == "Deployer" and role["Arn"] == created["Arn"]
    expect_error("DeleteConflict.Role.Policy", 409, api.ram, "DeleteRole", RoleName="Deployer")
    api.ram(
        "DetachPolicyFromRole",
        RoleName="Deployer",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    expect_error(
        "EntityNotExist.Role.Policy",
        404,
        api.ram,
        "DetachPolicyFromRole",
        RoleName="Deployer",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    api.ram("DeleteRole", RoleName="deployer")
    expect_error("EntityNotExist.Role", 404, api.ram, "GetRole", RoleName="Deployer")
    expect_error("EntityNotExist.Role", 404, api.ram, "DeleteRole", RoleName="Deployer")


def test_listing_roles_pages_by_name(root: Api) -> None:
    document = trust(account_id(root))
    for name in ("b-role", "A-role", "c-role"):
        root.ram("CreateRole", RoleName=name, AssumeRolePolicyDocument=document)
    first = root.ram("ListRoles", MaxItems=2)
    assert first["IsTruncated"] is True
    names = [r["RoleName"] for r in first["Roles"]["Role"]]
    assert names == ["A-role", "b-role"]
    assert all("AssumeRolePolicyDocument" not in r for r in first["Roles"]["Role"])
    rest = root.ram("ListRoles", MaxItems=2, Marker=first["Marker"])
    assert [r["RoleName"] for r in rest["Roles"]["Role"]] == ["c-role"]
    assert rest["IsTruncated"] is False and "Marker" not in rest


def test_bad_roles_are_refused_with_the_vendors_codes(root: Api) -> None:
    me = account_id(root)
    good = trust(me)
    expect_error(
        "InvalidParameter.RoleName.InvalidChars",
        400,
        root.ram,
        "CreateRole",
        RoleName="no spaces",
        AssumeRolePolicyDocument=good,
    )
    expect_error(
        "InvalidParameter.RoleName.Length",
        400,
        root.ram,
        "CreateRole",
        RoleName="x" * 65,
        AssumeRolePolicyDocument=good,
    )
    expect_error(
        "InvalidParameter.MaxSessionDuration",
        400,
        root.ram,
        "CreateRole",
        RoleName="short",
        AssumeRolePolicyDocument=good,
        MaxSessionDuration=600,
    )
    statement = json.loads(good)["Statement"][0]
    malformed = [
        "{not json",
        json.dumps({"Version": "2", "Statement": [statement]}),
        json.dumps({"Version": "1", "Statement": [{**statement, "Action": "ram:*"}]}),
        json.dumps({"Version": "1", "Statement": [{**statement, "Principal": {"RAM": "me"}}]}),
        json.dumps({"Version": "1", "Statement": [{**statement, "Principal": {"AWS": "*"}}]}),
        json.dumps(
            {
                "Version": "1",
                "Statement": [
                    {**statement, "Condition": {"IpAddress": {"acs:SourceIp": "1.2.3.4"}}}
                ],
            }
        ),
    ]
    for document in malformed:
        expect_error(
            "MalformedPolicyDocument",
            400,
            root.ram,
            "CreateRole",
            RoleName="bad",
            AssumeRolePolicyDocument=document,
        )
    root.ram("CreateRole", RoleName="kept", AssumeRolePolicyDocument=good)
    expect_error(
        "MalformedPolicyDocument",
        400,
        root.ram,
        "UpdateRole",
        RoleName="kept",
        NewAssumeRolePolicyDocument=malformed[2],
    )
    assert root.ram("GetRole", RoleName="kept")["Role"]["AssumeRolePolicyDocument"] == good
    expect_error("MissingRoleName", 400, root.ram, "GetRole")
