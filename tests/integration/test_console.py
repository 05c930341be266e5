"""The web console in a real browser: Debian's Chromium driven by Playwright.

One server of its own (SQLite), signed in through the sign-in page; every flow goes through
the pages a person would use, and the main pages are photographed on the way.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.integration.conftest import upn
from tests.integration.raw import call_rpc
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.steps import eventually

CHROMIUM = "/usr/bin/chromium"
# Screenshots go to docs/console/ when asked (KEYHOUSE_SCREENSHOTS=1 scripts/test -k console),
# else to a scratch folder, so that a test run leaves the checkout as it was.
DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
SHOTS = DOCS if os.environ.get("KEYHOUSE_SCREENSHOTS") else Path(tempfile.gettempdir()) / "kh-shots"
PASSWORD = "Owner-Passw0rd"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("console")
    srv = Server(f"sqlite:///{workdir / 'k.db'}", workdir / "master.key", workdir).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), "Debian's chromium is missing: scripts/test installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def owner(console: Server) -> dict[str, Any]:
    """A fresh account whose owner has a console password."""
    account = console.create_account(f"c{uuid.uuid4().hex[:10]}")
    console.cli("account", "set-password", "--name", account["AccountName"], input=PASSWORD + "\n")
    return account


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    pg = context.new_page()
    yield pg
    context.close()


def url(server: Server, path: str) -> str:
    return f"http://{server.endpoint}{path}"


def sign_in(page: Any, server: Server, account: str, password: str, user: str = "") -> None:
    page.goto(url(server, "/console/signin"))
    page.get_by_label("Account name").fill(account)
    page.get_by_label("RAM user name").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_owner_manages_a_users_keys_end_to_end(
    console: Server, owner: dict[str, Any], page: Any
) -> None:
    sign_in(page, console, owner["AccountName"], PASSWORD)
    expect(page.get_by_role("heading", name="Identities \u203a Users")).to_be_visible()
    page.get_by_label("User name", exact=True).fill("alice")
    page.get_by_label("Display name", exact=True).fill("Alice Example")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name="Alice Example")).to_be_visible()
    # Create AccessKey: the secret is shown once, with Copy and Download CSV.
    page.get_by_role("button", name="Create AccessKey").click()
    secret = page.locator("#new-key-secret").inner_text()
    key_id = page.locator("#new-key-id").inner_text()
    assert len(secret) == 30 and key_id.startswith("LTAI")
    expect(page.get_by_text("cannot be shown again")).to_be_visible()
    shot(page, "new-accesskey")
    page.get_by_role("button", name="Copy secret").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert f"{key_id},{secret}" in Path(download.value.path()).read_text()
    page.get_by_role("link", name="I have saved the secret").click()
    assert secret not in page.content()  # never again
    row = page.locator(f"#key-{key_id}")
    expect(row).to_contain_text("Active")
    assert row.get_by_text("Delete").count() == 0
    shot(page, "user")
    # Disable, then delete through the typed-ID dialog.
    row.get_by_role("button", name="Disable").click()
    row = page.locator(f"#key-{key_id}")
    expect(row).to_contain_text("Inactive")
    row.get_by_text("Delete", exact=True).click()
    confirm = row.get_by_label("Type the AccessKey ID to confirm")
    button = row.get_by_role("button", name="Delete AccessKey")
    confirm.fill("LTAI-not-this-one")
    assert button.is_disabled()
    confirm.fill(key_id)
    assert button.is_enabled()
    shot(page, "delete-dialog")
    button.click()
    expect(page.get_by_text(f"AccessKey {key_id} was deleted.")).to_be_visible()
    binned = page.locator(f"#binned-{key_id}")
    expect(binned).to_be_visible()
    # Restore: back to Active with the same secret.
    binned.get_by_role("button", name="Restore").click()
    expect(page.get_by_text("restored and is Active again")).to_be_visible()
    expect(page.locator(f"#key-{key_id}")).to_contain_text("Active")
    api = Api("v3", console.endpoint, key_id, secret)
    assert api.sts("GetCallerIdentity")["IdentityType"] == "RAMUser"
    row = page.locator(f"#key-{key_id}")
    row.get_by_role("button", name="Disable").click()
    expect(page.locator(f"#key-{key_id}")).to_contain_text("Inactive")
    page.locator(f"#key-{key_id}").get_by_role("button", name="Enable").click()
    expect(page.locator(f"#key-{key_id}")).to_contain_text("Active")


def test_server_refuses_a_wrong_typed_id_and_an_active_keys_user(
    console: Server, owner: dict[str, Any], page: Any
) -> None:
    root = Api("v3", console.endpoint, owner["AccessKeyId"], owner["AccessKeySecret"])
    root.ims("CreateUser", UserPrincipalName=upn(owner, "bob"), DisplayName="bob")
    key = root.ims("CreateAccessKey", UserPrincipalName=upn(owner, "bob"))["AccessKey"]
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.goto(url(console, "/console/users/bob"))
    page.get_by_role("button", name="Delete user bob").click()
    expect(page.get_by_text("has an Active AccessKey pair; disable it")).to_be_visible()
    # The dialog's JavaScript is a convenience: the server checks the typed ID itself.
    page.locator(f"#key-{key['AccessKeyId']}").get_by_role("button", name="Disable").click()
    row = page.locator(f"#key-{key['AccessKeyId']}")
    row.get_by_text("Delete", exact=True).click()
    row.get_by_label("Type the AccessKey ID to confirm").fill("wrong")
    row.get_by_role("button", name="Delete AccessKey").evaluate("b => b.disabled = false")
    row.get_by_role("button", name="Delete AccessKey").click()
    expect(
        page.get_by_text(f"Type the AccessKey ID {key['AccessKeyId']} to confirm")
    ).to_be_visible()
    kept = root.ims("ListAccessKeys", UserPrincipalName=upn(owner, "bob"))["AccessKeys"]
    assert [k["AccessKeyId"] for k in kept["AccessKey"]] == [key["AccessKeyId"]]
    # Who still uses the disabled pair is shown next to it.
    call_rpc(console.endpoint, key, "ListUsers", "2019-08-15", source="127.0.0.2")

    def shown() -> bool:
        page.goto(url(console, "/console/users/bob"))
        return "Still used while disabled" in page.content()

    assert eventually(shown)
    expect(page.locator("tr.attempts")).to_contain_text("127.0.0.2: ListUsers")
    # Delete it properly, then permanently from the key recycle bin (typed ID again).
    key_id = key["AccessKeyId"]
    row = page.locator(f"#key-{key_id}")
    row.get_by_text("Delete", exact=True).click()
    row.get_by_label("Type the AccessKey ID to confirm").fill(key_id)
    row.get_by_role("button", name="Delete AccessKey").click()
    binned = page.locator(f"#binned-{key_id}")
    binned.locator("summary", has_text="Delete permanently").click()
    binned.get_by_label("Type the AccessKey ID to confirm").fill(key_id)
    binned.get_by_role("button", name="Delete permanently").click()
    expect(page.get_by_text(f"AccessKey {key_id} was deleted permanently.")).to_be_visible()
    expect(page.locator(f"#binned-{key_id}")).to_have_count(0)
    assert (
        root.ims("ListAccessKeys", UserPrincipalName=upn(owner, "bob"))["AccessKeys"]["AccessKey"]
        == []
    )


def test_a_key_of_a_binned_user_cannot_be_restored_before_the_user(
    console: Server, owner: dict[str, Any], page: Any
) -> None:
    root = Api("v3", console.endpoint, owner["AccessKeyId"], owner["AccessKeySecret"])
    principal = upn(owner, "carol")
    created = root.ims("CreateUser", UserPrincipalName=principal, DisplayName="carol")
    user_id = created["User"]["UserId"]
    key = root.ims("CreateAccessKey", UserPrincipalName=principal)["AccessKey"]["AccessKeyId"]
    root.ims("UpdateAccessKey", UserPrincipalName=principal, UserAccessKeyId=key, Status="Inactive")
    root.ims("DeleteAccessKey", UserPrincipalName=principal, UserAccessKeyId=key)
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.goto(url(console, "/console/users/carol"))
    page.get_by_role("button", name="Delete user carol").click()
    expect(page.get_by_text("User carol was moved to the recycle bin.")).to_be_visible()
    shot(page, "recycle-bin")
    page.locator(f"#binned-key-{key}").get_by_role("button", name="Restore AccessKey").click()
    expect(page.get_by_text("restore the user first")).to_be_visible()
    page.locator(f"#binned-user-{user_id}").get_by_role("button", name="Restore").click()
    expect(page.get_by_text("The user was restored.")).to_be_visible()
    page.goto(url(console, "/console/users/carol"))
    page.locator(f"#binned-{key}").get_by_role("button", name="Restore").click()
    expect(page.locator(f"#key-{key}")).to_contain_text("Active")
    # Deleting a binned user for good takes its typed ID.
    other = root.ims("CreateUser", UserPrincipalName=upn(owner, "gone"), DisplayName="gone")
    gone_id = other["User"]["UserId"]
    root.ims("DeleteUser", UserPrincipalName=upn(owner, "gone"))
    page.goto(url(console, "/console/recycle-bin"))
    row = page.locator(f"#binned-user-{gone_id}")
    row.locator("summary", has_text="Delete permanently").click()
    row.get_by_label("Type the user ID to confirm").fill(gone_id)
    row.get_by_role("button", name="Delete permanently").click()
    expect(page.get_by_text("The user was deleted permanently.")).to_be_visible()
    expect(page.locator(f"#binned-user-{gone_id}")).to_have_count(0)


def test_search_by_name_and_by_accesskey_id(
    console: Server, owner: dict[str, Any], page: Any
) -> None:
    root = Api("v3", console.endpoint, owner["AccessKeyId"], owner["AccessKeySecret"])
    for name in ("dave", "dana", "erin"):
        root.ims("CreateUser", UserPrincipalName=upn(owner, name), DisplayName=name.upper())
    key = root.ims("CreateAccessKey", UserPrincipalName=upn(owner, "erin"))["AccessKey"]
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.get_by_label("Search by user name").fill("da")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr td:first-child")).to_have_text(["dana", "dave"])
    shot(page, "users")
    page.get_by_label("Search by user name").fill(key["AccessKeyId"])
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="ERIN")).to_be_visible()


def test_ram_user_signs_in_resets_its_password_and_sees_only_what_policies_allow(
    console: Server, owner: dict[str, Any], page: Any
) -> None:
    root = Api("v3", console.endpoint, owner["AccessKeyId"], owner["AccessKeySecret"])
    principal = upn(owner, "frank")
    root.ims("CreateUser", UserPrincipalName=principal, DisplayName="frank")
    profile = root.ims(
        "CreateLoginProfile",
        UserPrincipalName=principal,
        Password="Initial-Pass1",
        PasswordResetRequired=True,
    )["LoginProfile"]
    assert profile["PasswordResetRequired"] is True
    sign_in(page, console, owner["AccountName"], "Initial-Pass1", user="frank")
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    page.goto(url(console, "/console/users"))  # cannot go anywhere else first
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    page.get_by_label("Current password").fill("Initial-Pass1")
    page.get_by_label("New password", exact=False).first.fill("weak")
    page.get_by_label("New password again").fill("weak")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("8 to 32 characters").first).to_be_visible()
    page.get_by_label("Current password").fill("Initial-Pass1")
    page.get_by_label("New password", exact=False).first.fill("Second-Pass2")
    page.get_by_label("New password again").fill("Second-Pass2")
    page.get_by_role("button", name="Change password").click()
    # No policy: the list is refused, in words.
    expect(page.get_by_text("You are not allowed to do this (ram:ListUsers)")).to_be_visible()
    got = root.ims("GetLoginProfile", UserPrincipalName=principal)["LoginProfile"]
    assert got["PasswordResetRequired"] is False
    root.ram(
        "AttachPolicyToUser",
        UserName="frank",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    page.reload()
    expect(page.locator("tbody tr td:first-child")).to_have_text(["frank"])
    page.get_by_label("User name", exact=True).fill("mallory")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_text("not allowed to do this (ram:CreateUser)")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(url(console, "/console/users"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_sign_in_throttle_csrf_cookies_headers_and_audit(
    console: Server, owner: dict[str, Any], page: Any
) -> None:
    name = owner["AccountName"]
    sign_in(page, console, name, "Wrong-Passw0rd")
    expect(page.get_by_text("The account name, user name or password is wrong.")).to_be_visible()
    shot(page, "signin")
    for _ in range(4):
        sign_in(page, console, name, "Wrong-Passw0rd")
    sign_in(page, console, name, PASSWORD)  # right, but too late
    expect(page.get_by_text("Too many failed sign-ins")).to_be_visible()
    other = console.create_account(f"c{uuid.uuid4().hex[:10]}")
    console.cli("account", "set-password", "--name", other["AccountName"], input=PASSWORD + "\n")
    response = page.goto(url(console, "/console/signin"))
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "same-origin"
    sign_in(page, console, other["AccountName"], PASSWORD)
    cookie = next(c for c in page.context.cookies() if c["name"] == "kh_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/console"
    # A form whose CSRF token does not match the session is refused, and nothing happens.
    page.locator("input[name=csrf]").last.evaluate("e => e.value = 'forged'")
    page.get_by_label("User name", exact=True).fill("forged")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name="This form has expired")).to_be_visible()
    root = Api("v3", console.endpoint, other["AccessKeyId"], other["AccessKeySecret"])
    assert root.ims("ListUsers")["Users"]["User"] == []
    # Sign-ins, failed and successful, are in the trail (read events: written within a second).
    owner_root = Api("v3", console.endpoint, owner["AccessKeyId"], owner["AccessKeySecret"])
    signins = [{"Key": "EventName", "Value": "ConsoleSignin"}]

    def failed() -> list[dict[str, Any]]:
        return owner_root.trail("LookupEvents", LookupAttribute=signins)["Events"]  # type: ignore[no-any-return]

    found = eventually(lambda: len(failed()) >= 6 and failed())
    codes = [e["errorCode"] for e in found]
    # Five wrong passwords, then the right one refused by the throttle: recorded as such.
    assert codes.count("ConsoleSignin.Failed") == 5 and codes.count("ConsoleSignin.Throttled") == 1
    assert all(e["eventType"] == "ConsoleSignin" for e in found) and len(found) == 6
    mine = eventually(lambda: root.trail("LookupEvents", LookupAttribute=signins)["Events"])
    assert [e["errorCode"] for e in mine] == [None]
    assert other["AccessKeySecret"] not in json.dumps(mine)


def test_network_policy_editor_simulates_before_saving(
    console: Server, owner: dict[str, Any], page: Any
) -> None:
    root = Api("v3", console.endpoint, owner["AccessKeyId"], owner["AccessKeySecret"])
    principal = upn(owner, "gina")
    root.ims("CreateUser", UserPrincipalName=principal, DisplayName="gina")
    key = root.ims("CreateAccessKey", UserPrincipalName=principal)["AccessKey"]
    for source in ("127.0.0.1", "127.0.0.2", "127.0.0.2"):
        call_rpc(console.endpoint, key, "GetCallerIdentity", "2015-04-01", source=source)
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.goto(url(console, f"/console/users/gina/keys/{key['AccessKeyId']}/policy"))
    editor = page.get_by_label("Policy document")
    expect(editor).to_contain_text('"Status":"Inactive"')
    proposed = json.dumps(
        {
            "Version": 1,
            "Status": "Active",
            "Statements": [{"Type": "ClassicWhiteList", "IPList": ["127.0.0.1"]}],
        }
    )
    editor.fill("{not json")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("The policy is not JSON")).to_be_visible()

    def simulated() -> bool:
        page.get_by_label("Policy document").fill(proposed)
        page.get_by_role("button", name="Check against recent requests").click()
        return "2 request(s)" in page.content()

    assert eventually(simulated)  # the uses are buffered events: written within a second
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.locator("tbody")).to_contain_text("127.0.0.2")
    shot(page, "network-policy")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("The policy was saved.")).to_be_visible()
    got = root.ims(
        "GetAccessKeyPolicy", UserPrincipalName=principal, UserAccessKeyId=key["AccessKeyId"]
    )
    assert json.loads(got["AccessKeyPolicy"]) == json.loads(proposed)
    status, _ = call_rpc(
        console.endpoint, key, "GetCallerIdentity", "2015-04-01", source="127.0.0.2"
    )
    assert status == 400


def test_audit_trail_report_and_settings_pages(
    console: Server, owner: dict[str, Any], page: Any
) -> None:
    root = Api("v3", console.endpoint, owner["AccessKeyId"], owner["AccessKeySecret"])
    principal = upn(owner, "hank")
    root.ims("CreateUser", UserPrincipalName=principal, DisplayName="hank")
    key = root.ims("CreateAccessKey", UserPrincipalName=principal)["AccessKey"]["AccessKeyId"]
    sign_in(page, console, owner["AccountName"], PASSWORD)
    # The audit trail, filtered by event.
    page.goto(url(console, "/console/audit"))
    page.get_by_label("Event (action)").fill("CreateAccessKey")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("CreateAccessKey")
    shot(page, "audit-trail")
    page.get_by_label("From (UTC").fill("yesterday")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("Use a UTC time such as")).to_be_visible()
    # The credential report: generate, then download.
    page.goto(url(console, "/console/report"))
    page.get_by_role("button", name="Generate report").click()
    expect(page.get_by_text("A new report was generated.")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    report = Path(download.value.path()).read_text()
    assert report.startswith("user,user_creation_time") and "\nhank@" in report
    # Settings: immediate deletion changes the delete dialog; the preference is saved.
    page.goto(url(console, "/console/settings"))
    page.get_by_label("it is deleted at once and for good").check()
    page.locator("form", has=page.get_by_label("it is deleted at once")).get_by_role(
        "button", name="Save"
    ).click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.get_by_label("RAM users may manage their own AccessKeys").check()
    page.locator("form", has=page.get_by_label("RAM users may manage")).get_by_role(
        "button", name="Save"
    ).click()
    preference = root.ims("GetSecurityPreference")["SecurityPreference"]["AccessKeyPreference"]
    assert preference["AllowUserToManageAccessKeys"] is True
    shot(page, "settings")
    page.get_by_role("link", name="Network access policy of the account").click()
    page.get_by_role("button", name="Check against recent requests").click()
    none_refused = "None of the last 30 days' requests would have been refused"
    expect(page.get_by_text(none_refused)).to_be_visible()
    page.goto(url(console, "/console/users/hank"))
    row = page.locator(f"#key-{key}")
    row.get_by_role("button", name="Disable").click()
    row = page.locator(f"#key-{key}")
    row.get_by_text("Delete", exact=True).click()
    expect(row.get_by_text("this cannot be undone", exact=True)).to_be_visible()
    row.get_by_label("I understand that this cannot be undone").check()
    row.get_by_role("button", name="Delete AccessKey").click()
    expect(page.get_by_text(f"AccessKey {key} was deleted.")).to_be_visible()
    assert (
        root.ims(
            "ListAccessKeysInRecycleBin",
            UserId=root.ims("GetUser", UserPrincipalName=principal)["User"]["UserId"],
        )["AccessKeys"]["AccessKey"]
        == []
    )
