"""The web console in a real browser: Debian's Chromium driven by Playwright, on SQLite and on
PostgreSQL.

One server per backend; every test signs in through the sign-in page with a fresh account and
goes through the pages a person would use. The main pages are photographed on the way.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import scratch_database
from tests.integration.conftest import expect_error, upn
from tests.integration.raw import call_rpc
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.steps import bin_key, eventually, make_key, make_user
from tests.integration.test_audit import events
from tests.integration.test_sts import trust

# Screenshots go to docs/console/ when asked (KEYHOUSE_SCREENSHOTS=1 scripts/test -k console),
# else to a scratch folder, so that a test run leaves the checkout as it was. Only the SQLite
# run takes them (both backends render the same pages).
DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
SHOTS = DOCS if os.environ.get("KEYHOUSE_SCREENSHOTS") else Path(tempfile.gettempdir()) / "kh-shots"
PASSWORD = "Owner-Passw0rd"
DESTRUCTIVE = """() => {
  const destructive = (f) =>
    /\\/(delete|purge)$/.test(f.action) ||
    (f.action.endsWith("/status") && f.querySelector("input[name=status][value=Inactive]")) ||
    (f.action.endsWith("/settings/deletion") &&
      f.querySelector("input[name=mode][value=immediate]"));
  const forms = Array.from(document.querySelectorAll("form")).filter(destructive);
  return {
    count: forms.length,
    outside: forms.filter((f) => !f.closest("dialog")).map((f) => f.action),
    open: document.querySelectorAll("dialog[open]").length,
  };
}"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def console(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp(f"console-{request.param}")
    if request.param == "sqlite":
        srv = Server(f"sqlite:///{workdir / 'k.db'}", workdir / "master.key", workdir).start()
        srv.backend = "sqlite"  # type: ignore[attr-defined]
        yield srv
        srv.stop()
        return
    with scratch_database() as url:
        srv = Server(url, workdir / "master.key", workdir).start()
        srv.backend = "postgres"  # type: ignore[attr-defined]
        yield srv
        srv.stop()


@pytest.fixture
def owner(console: Server) -> dict[str, Any]:
    """A fresh account whose owner has a console password."""
    account = console.create_account(f"c{uuid.uuid4().hex[:10]}")
    console.cli("account", "set-password", "--name", account["AccountName"], input=PASSWORD + "\n")
    return account


@pytest.fixture
def root(console: Server, owner: dict[str, Any]) -> Api:
    return Api("v3", console.endpoint, owner["AccessKeyId"], owner["AccessKeySecret"])


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


def shot(page: Any, server: Server, name: str) -> None:
    if getattr(server, "backend", "sqlite") != "sqlite":
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def open_dialog(page: Any, dialog_id: str) -> Any:
    """Click the button that opens a dialog; the dialog, open and modal."""
    page.locator(f"[data-dialog='{dialog_id}']").click()
    dialog = page.locator(f"dialog#{dialog_id}")
    expect(dialog).to_have_attribute("open", "")
    return dialog


def keys_of(root: Api, account: dict[str, Any], name: str) -> list[dict[str, Any]]:
    found = root.ims("ListAccessKeys", UserPrincipalName=upn(account, name))
    return found["AccessKeys"]["AccessKey"]  # type: ignore[no-any-return]


def test_owner_manages_a_users_keys_end_to_end(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    sign_in(page, console, owner["AccountName"], PASSWORD)
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    expect(page.locator("nav.side a[aria-current=page]")).to_have_text("Users")
    dialog = open_dialog(page, "create-user")
    dialog.get_by_label("User name").fill("alice")
    dialog.get_by_label("Display name").fill("Alice Example")
    dialog.get_by_role("button", name="Create user").click()
    expect(page.get_by_text("User alice was created.")).to_be_visible()
    expect(page.get_by_role("heading", name="Alice Example")).to_be_visible()
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("AccessKeys")
    # Create AccessKey: the secret is shown once, with Copy and Download CSV.
    page.get_by_role("button", name="Create AccessKey").click()
    secret = page.locator("#new-key-secret").inner_text()
    key_id = page.locator("#new-key-id").inner_text()
    assert len(secret) == 30 and key_id.startswith("LTAI")
    expect(page.get_by_text("cannot be shown again")).to_be_visible()
    shot(page, console, "new-accesskey")
    page.get_by_role("button", name="Copy secret").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert f"{key_id},{secret}" in Path(download.value.path()).read_text()
    # A reload shows the secret no more and creates nothing.
    page.reload()
    assert page.url.endswith("/console/users/alice/keys") and secret not in page.content()
    assert [k["AccessKeyId"] for k in keys_of(root, owner, "alice")] == [key_id]
    row = page.locator(f"#key-{key_id}")
    expect(row).to_contain_text("Active")
    assert row.get_by_role("button", name="Delete").count() == 0  # disable it first
    # Disable, through its dialog; Cancel changes nothing.
    dialog = open_dialog(page, f"disable-{key_id}")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).not_to_have_attribute("open", "")
    expect(row).to_contain_text("Active")
    open_dialog(page, f"disable-{key_id}").get_by_role("button", name="Disable").click()
    expect(page.get_by_text(f"AccessKey {key_id} was disabled.")).to_be_visible()
    expect(page.locator(f"#key-{key_id}")).to_contain_text("Inactive")
    # Delete through the typed-ID dialog.
    dialog = open_dialog(page, f"delete-{key_id}")
    confirm = dialog.get_by_label("Type the AccessKey ID to confirm")
    button = dialog.get_by_role("button", name="Delete AccessKey")
    confirm.fill("LTAI-not-this-one")
    expect(button).to_be_disabled()
    confirm.fill(key_id)
    expect(button).to_be_enabled()
    shot(page, console, "delete-dialog")
    button.click()
    expect(page.get_by_text(f"AccessKey {key_id} was deleted.")).to_be_visible()
    expect(page.locator(f"#key-{key_id}")).to_have_count(0)
    # Restore from the user's recycle bin: Active again, with the same secret.
    page.locator("nav.tabs").get_by_role("link", name="Recycle bin").click()
    page.locator(f"#binned-{key_id}").get_by_role("button", name="Restore").click()
    expect(page.get_by_text("restored and is Active again")).to_be_visible()
    expect(page.locator(f"#key-{key_id}")).to_contain_text("Active")
    api = Api("v3", console.endpoint, key_id, secret)
    assert api.sts("GetCallerIdentity")["IdentityType"] == "RAMUser"
    page.reload()
    shot(page, console, "user")
    page.locator("nav.tabs").get_by_role("link", name="Details").click()
    expect(page.locator("dl.details").first).to_contain_text("alice@")
    shot(page, console, "user-details")


def test_the_server_checks_what_the_dialogs_ask(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    principal = make_user(root, owner, "bob")
    key = make_key(root, principal)
    key_id = key["AccessKeyId"]
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.goto(url(console, "/console/users/bob"))
    open_dialog(page, "delete-user").get_by_role("button", name="Delete user").click()
    expect(page.get_by_text("has an Active AccessKey pair; disable it")).to_be_visible()
    page.reload()  # the refusal was shown once; the reload repeats nothing
    expect(page.get_by_text("has an Active AccessKey pair")).to_have_count(0)
    assert root.ims("GetUser", UserPrincipalName=principal)["User"]["UserName"] == "bob"
    # The dialog's JavaScript is a convenience: the server checks the typed ID itself.
    page.goto(url(console, "/console/users/bob/keys"))
    open_dialog(page, f"disable-{key_id}").get_by_role("button", name="Disable").click()
    dialog = open_dialog(page, f"delete-{key_id}")
    dialog.get_by_label("Type the AccessKey ID to confirm").fill("wrong")
    dialog.get_by_role("button", name="Delete AccessKey").evaluate("b => b.disabled = false")
    dialog.get_by_role("button", name="Delete AccessKey").click()
    expect(page.get_by_text(f"Type the AccessKey ID {key_id} to confirm")).to_be_visible()
    assert [k["AccessKeyId"] for k in keys_of(root, owner, "bob")] == [key_id]
    # Who still uses the disabled pair is shown next to it.
    call_rpc(console.endpoint, key, "ListUsers", "2019-08-15", source="127.0.0.2")

    def shown() -> bool:
        page.goto(url(console, "/console/users/bob/keys"))
        return "Still used while disabled" in page.content()

    assert eventually(shown, 15)
    expect(page.locator("tr.attempts")).to_contain_text("127.0.0.2: ListUsers")
    # Delete it properly, then permanently from the key recycle bin (typed ID again).
    dialog = open_dialog(page, f"delete-{key_id}")
    dialog.get_by_label("Type the AccessKey ID to confirm").fill(key_id)
    dialog.get_by_role("button", name="Delete AccessKey").click()
    page.goto(url(console, "/console/users/bob/bin"))
    dialog = open_dialog(page, f"purge-{key_id}")
    dialog.get_by_label("Type the AccessKey ID to confirm").fill(key_id)
    dialog.get_by_role("button", name="Delete permanently").click()
    expect(page.get_by_text(f"AccessKey {key_id} was deleted permanently.")).to_be_visible()
    expect(page.locator(f"#binned-{key_id}")).to_have_count(0)
    assert keys_of(root, owner, "bob") == []


def test_every_destructive_action_is_behind_a_dialog(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    principal = make_user(root, owner, "dee")
    inactive = make_key(root, principal)["AccessKeyId"]
    root.ims(
        "UpdateAccessKey", UserPrincipalName=principal, UserAccessKeyId=inactive, Status="Inactive"
    )
    binned = make_key(root, principal)["AccessKeyId"]
    bin_key(root, principal, binned)
    make_key(root, principal)  # an Active one: disabling it is behind a dialog too
    make_user(root, owner, "gone")
    root.ims("DeleteUser", UserPrincipalName=upn(owner, "gone"))
    root.ram("CreateGroup", GroupName="ops")
    me = root.sts("GetCallerIdentity")["AccountId"]
    root.ram(
        "CreateRole", RoleName="ops-role", AssumeRolePolicyDocument=trust(f"acs:ram::{me}:root")
    )
    document = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "ram:Get*", "Resource": "*"}],
    }
    root.ram("CreatePolicy", PolicyName="getters", PolicyDocument=json.dumps(document))
    root.ram("CreatePolicyVersion", PolicyName="getters", PolicyDocument=json.dumps(document))
    sign_in(page, console, owner["AccountName"], PASSWORD)
    for path, least in (
        ("/console/users/dee", 1),  # delete the user
        ("/console/users/dee/keys", 2),  # disable and delete keys
        ("/console/users/dee/bin", 1),  # delete a binned key for good
        ("/console/recycle-bin", 1),  # delete a binned user for good
        ("/console/groups/ops", 1),
        ("/console/roles/ops-role", 1),
        ("/console/policies/Custom/getters", 2),  # a version, the policy
        ("/console/keys", 1),  # the root's own pairs
        ("/console/settings", 1),  # immediate deletion
    ):
        page.goto(url(console, path))
        found = page.evaluate(DESTRUCTIVE)
        assert found["count"] >= least, (path, found)
        assert found["outside"] == [] and found["open"] == 0, (path, found)


def test_a_binned_users_keys_wait_for_the_user(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    principal = make_user(root, owner, "carol")
    user_id = root.ims("GetUser", UserPrincipalName=principal)["User"]["UserId"]
    key = make_key(root, principal)["AccessKeyId"]
    bin_key(root, principal, key)
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.goto(url(console, "/console/users/carol"))
    open_dialog(page, "delete-user").get_by_role("button", name="Delete user").click()
    expect(page.get_by_text("User carol was moved to the recycle bin.")).to_be_visible()
    # Its key is listed with the user, with no Restore button that could not work.
    row = page.locator(f"#binned-key-{key}")
    expect(row).to_contain_text("Restore the user first")
    assert row.get_by_role("button").count() == 0
    shot(page, console, "recycle-bin")
    page.locator(f"#binned-user-{user_id}").get_by_role("button", name="Restore").click()
    expect(page.get_by_text("The user was restored.")).to_be_visible()
    page.goto(url(console, "/console/users/carol/bin"))
    page.locator(f"#binned-{key}").get_by_role("button", name="Restore").click()
    expect(page.locator(f"#key-{key}")).to_contain_text("Active")
    # Deleting a binned user for good takes its typed ID.
    other = root.ims("CreateUser", UserPrincipalName=upn(owner, "gone"), DisplayName="gone")
    gone_id = other["User"]["UserId"]
    root.ims("DeleteUser", UserPrincipalName=upn(owner, "gone"))
    page.goto(url(console, "/console/recycle-bin"))
    dialog = open_dialog(page, f"purge-{gone_id}")
    dialog.get_by_label("Type the user ID to confirm").fill(gone_id)
    dialog.get_by_role("button", name="Delete permanently").click()
    expect(page.get_by_text("The user was deleted permanently.")).to_be_visible()
    expect(page.locator(f"#binned-user-{gone_id}")).to_have_count(0)


def test_search_by_name_and_by_accesskey_id(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    for name in ("dave", "dana", "erin"):
        root.ims("CreateUser", UserPrincipalName=upn(owner, name), DisplayName=name.upper())
    key = root.ims("CreateAccessKey", UserPrincipalName=upn(owner, "erin"))["AccessKey"]
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.get_by_role("searchbox").or_(page.locator("#q")).fill("da")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr td:first-child")).to_have_text(["dana", "dave"])
    shot(page, console, "users")
    page.locator("#q").fill(key["AccessKeyId"])
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="ERIN")).to_be_visible()


def test_a_ram_user_lands_on_its_own_accesskeys(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    principal = make_user(root, owner, "frank")
    root.ims(
        "CreateLoginProfile",
        UserPrincipalName=principal,
        Password="Initial-Pass1",
        PasswordResetRequired=True,
    )
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
    # It lands on its start page, which names the preference that keeps its AccessKeys from
    # it (the page opens its AccessKeys once the account allows them).
    assert page.url.endswith("/console")
    expect(page.locator("#no-keys")).to_contain_text("AllowUserToManageAccessKeys")
    expect(page.locator("nav.side a[aria-current=page]")).to_have_text("Start")
    assert (
        root.ims("GetLoginProfile", UserPrincipalName=principal)["LoginProfile"][
            "PasswordResetRequired"
        ]
        is False
    )
    root.ims("SetSecurityPreference", AllowUserToManageAccessKeys=True)
    page.reload()
    expect(page.get_by_role("heading", name="My AccessKeys")).to_be_visible()
    expect(page.get_by_text("your RAM user frank")).to_be_visible()
    page.get_by_role("button", name="Create AccessKey").click()
    key_id = page.locator("#new-key-id").inner_text()
    secret = page.locator("#new-key-secret").inner_text()
    page.get_by_role("link", name="I have saved the secret").click()
    expect(page.locator(f"#key-{key_id}")).to_contain_text("Active")
    shot(page, console, "my-accesskeys")
    mine = Api("v3", console.endpoint, key_id, secret).sts("GetCallerIdentity")
    assert mine["IdentityType"] == "RAMUser" and mine["Arn"].endswith("user/frank")
    # What its policies do not allow is refused in words; what they allow works.
    page.goto(url(console, "/console/users"))
    expect(page.get_by_text("You are not allowed to do this (ram:ListUsers)")).to_be_visible()
    root.ram(
        "AttachPolicyToUser",
        UserName="frank",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    page.reload()
    expect(page.locator("tbody tr td:first-child")).to_have_text(["frank"])
    dialog = open_dialog(page, "create-user")
    dialog.get_by_label("User name").fill("mallory")
    dialog.get_by_role("button", name="Create user").click()
    expect(page.get_by_text("not allowed to do this (ram:CreateUser)")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(url(console, "/console/keys"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_sign_in_throttle_csrf_cookies_headers_and_audit(
    console: Server, owner: dict[str, Any], page: Any
) -> None:
    name = owner["AccountName"]
    sign_in(page, console, name, "Wrong-Passw0rd")
    expect(page.get_by_text("The account name, user name or password is wrong.")).to_be_visible()
    shot(page, console, "signin")
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
    dialog = open_dialog(page, "create-user")
    dialog.locator("input[name=csrf]").evaluate("e => e.value = 'forged'")
    dialog.get_by_label("User name").fill("forged")
    dialog.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name="This form has expired")).to_be_visible()
    other_root = Api("v3", console.endpoint, other["AccessKeyId"], other["AccessKeySecret"])
    assert other_root.ims("ListUsers")["Users"]["User"] == []
    # Sign-ins, failed and successful, are in the trail.
    owner_root = Api("v3", console.endpoint, owner["AccessKeyId"], owner["AccessKeySecret"])
    found = eventually(lambda: len(events(owner_root, EventName="ConsoleSignin")) >= 6)
    assert found
    codes = [e["errorCode"] for e in events(owner_root, EventName="ConsoleSignin")]
    # Five wrong passwords, then the right one refused by the throttle: recorded as such.
    assert sorted(codes) == ["ConsoleSignin.Failed"] * 5 + ["ConsoleSignin.Throttled"]
    mine = events(other_root, EventName="ConsoleSignin")
    assert [e["errorCode"] for e in mine] == [None]
    assert other["AccessKeySecret"] not in json.dumps(mine)


def test_the_network_policy_editor_warns_before_saving(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    principal = make_user(root, owner, "gina")
    key = make_key(root, principal)
    for source in ("127.0.0.1", "127.0.0.2", "127.0.0.2"):
        call_rpc(console.endpoint, key, "GetCallerIdentity", "2015-04-01", source=source)
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.goto(url(console, "/console/users/gina/keys"))
    page.locator(f"#key-{key['AccessKeyId']}").get_by_role("link", name="Network policy").click()
    editor = page.get_by_label("Policy document")
    expect(editor).to_contain_text('"Status":"Inactive"')
    proposed = json.dumps(
        {
            "Version": 1,
            "Status": "Active",
            "Statements": [{"Type": "ClassicWhiteList", "IPList": ["127.0.0.1"]}],
        }
    )
    # Not JSON: the editor says so and will not save; the server refuses it anyway.
    editor.fill("{not json")
    expect(page.get_by_text("Not valid JSON")).to_be_visible()
    save = page.get_by_role("button", name="Save policy")
    expect(save).to_be_disabled()
    save.evaluate("b => b.disabled = false")
    save.click()
    expect(page.get_by_text("The policy is not JSON")).to_be_visible()
    expect(page.get_by_label("Policy document")).to_have_value("{not json")  # the draft is kept
    # Checking the draft lists what it would have refused.
    page.get_by_label("Policy document").fill(proposed)
    page.get_by_role("button", name="Check against recent requests").click()
    expect(page.get_by_text("2 request(s) of the last 30 days")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.locator("tbody")).to_contain_text("127.0.0.2")
    # Saving it from the editor asks first: the check's page, with the count. That is
    # recorded as a check (LookupEvents), not as a refused write.
    page.goto(url(console, f"/console/users/gina/keys/{key['AccessKeyId']}/policy"))
    page.get_by_label("Policy document").fill(proposed)
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("2 request(s) of the last 30 days")).to_be_visible()
    kept = root.ims(
        "GetAccessKeyPolicy", UserPrincipalName=principal, UserAccessKeyId=key["AccessKeyId"]
    )
    assert json.loads(kept["AccessKeyPolicy"])["Status"] == "Inactive"  # not saved yet
    writes = events(root, EventName="SetAccessKeyPolicy")
    assert not [e for e in writes if e.get("errorCode")], writes
    shot(page, console, "network-policy")
    page.get_by_role("button", name="Save anyway").click()
    expect(page.get_by_text("The policy was saved.")).to_be_visible()
    got = root.ims(
        "GetAccessKeyPolicy", UserPrincipalName=principal, UserAccessKeyId=key["AccessKeyId"]
    )
    assert json.loads(got["AccessKeyPolicy"]) == json.loads(proposed)
    status, _ = call_rpc(
        console.endpoint, key, "GetCallerIdentity", "2015-04-01", source="127.0.0.2"
    )
    assert status == 400
    # The account's editor: a draft that refuses nothing is saved without a question.
    page.goto(url(console, "/console/network-policy"))
    expect(page.locator("nav.side a[aria-current=page]")).to_have_text("Network access")
    page.get_by_label("Policy document").fill(
        json.dumps({"Version": 1, "Status": "Inactive", "Statements": []})
    )
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("The policy was saved.")).to_be_visible()


def test_groups_end_to_end(console: Server, owner: dict[str, Any], root: Api, page: Any) -> None:
    make_user(root, owner, "hal")
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.locator("nav.side").get_by_role("link", name="Groups").click()
    dialog = open_dialog(page, "create-group")
    dialog.get_by_label("Group name").fill("ops")
    dialog.get_by_label("Comments").fill("operators")
    dialog.get_by_role("button", name="Create group").click()
    expect(page.get_by_text("Group ops was created.")).to_be_visible()
    page.get_by_label("Add a user").select_option("hal")
    page.locator("form", has=page.get_by_label("Add a user")).get_by_role(
        "button", name="Add"
    ).click()
    expect(page.locator("#member-hal")).to_be_visible()
    page.get_by_label("Attach a policy").select_option("System:AliyunRAMReadOnlyAccess")
    page.locator("form", has=page.get_by_label("Attach a policy")).get_by_role(
        "button", name="Attach"
    ).click()
    expect(page.locator("#policy-AliyunRAMReadOnlyAccess")).to_be_visible()
    shot(page, console, "group")
    members = root.ram("ListUsersForGroup", GroupName="ops")["Users"]["User"]
    assert [u["UserName"] for u in members] == ["hal"]
    attached = root.ram("ListPoliciesForGroup", GroupName="ops")["Policies"]["Policy"]
    assert [p["PolicyName"] for p in attached] == ["AliyunRAMReadOnlyAccess"]
    # The user's Groups tab shows it too.
    page.goto(url(console, "/console/users/hal/groups"))
    expect(page.locator("#group-ops")).to_be_visible()
    # A group with members and policies cannot be deleted; emptied, it can (typed name).
    page.goto(url(console, "/console/groups/ops"))
    dialog = open_dialog(page, "delete-group")
    dialog.get_by_label("Type the group name to confirm").fill("ops")
    dialog.get_by_role("button", name="Delete group").click()
    expect(page.locator("#flash-error")).to_be_visible()
    page.locator("#member-hal").get_by_role("button", name="Remove").click()
    page.locator("#policy-AliyunRAMReadOnlyAccess").get_by_role("button", name="Detach").click()
    expect(page.get_by_text("was detached from ops")).to_be_visible()
    dialog = open_dialog(page, "delete-group")
    dialog.get_by_label("Type the group name to confirm").fill("ops")
    dialog.get_by_role("button", name="Delete group").click()
    expect(page.get_by_text("Group ops was deleted.")).to_be_visible()
    shot(page, console, "groups")
    assert root.ram("ListGroups")["Groups"]["Group"] == []


def test_policies_end_to_end(console: Server, owner: dict[str, Any], root: Api, page: Any) -> None:
    make_user(root, owner, "ivy")
    root.ram("CreateGroup", GroupName="devs")
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.locator("nav.side").get_by_role("link", name="Policies").click()
    expect(page.get_by_role("link", name="AdministratorAccess")).to_be_visible()
    shot(page, console, "policies")
    page.get_by_role("button", name="Create policy").click()
    page.get_by_label("Policy name").fill("key-readers")
    page.get_by_label("Description").fill("Read AccessKeys")
    editor = page.get_by_label("Policy document (JSON)")
    # The editor checks the document before it can be saved.
    editor.fill('{"Statement": [{"Effect": "Maybe", "Action": "*"}]}')
    expect(page.get_by_text("Effect must be Allow or Deny")).to_be_visible()
    create = page.get_by_role("button", name="Create policy")
    expect(create).to_be_disabled()
    # The server's own check refuses what the editor cannot know, and keeps the draft.
    unknown = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "ram:List*", "Resource": "*", "Condition": {"Nope": {}}}
        ],
    }
    editor.fill(json.dumps(unknown))
    expect(create).to_be_enabled()
    create.click()
    expect(page.locator("#flash-error")).to_be_visible()
    expect(page.get_by_label("Policy name")).to_have_value("key-readers")
    good = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": ["ram:ListAccessKeys"], "Resource": "*"}],
    }
    page.get_by_label("Policy document (JSON)").fill(json.dumps(good))
    shot(page, console, "policy-new")
    page.get_by_role("button", name="Create policy").click()
    expect(page.get_by_text("Policy key-readers was created.")).to_be_visible()
    # Attach to a user and a group; the page shows where it is attached.
    page.get_by_label("Attach to user").select_option("ivy")
    page.locator("form", has=page.get_by_label("Attach to user")).get_by_role(
        "button", name="Attach"
    ).click()
    page.get_by_label("Attach to group").select_option("devs")
    page.locator("form", has=page.get_by_label("Attach to group")).get_by_role(
        "button", name="Attach"
    ).click()
    expect(page.locator("#entity-user-ivy")).to_be_visible()
    expect(page.locator("#entity-group-devs")).to_be_visible()
    entities = root.ram("ListEntitiesForPolicy", PolicyName="key-readers", PolicyType="Custom")
    assert [u["UserName"] for u in entities["Users"]["User"]] == ["ivy"]
    # A second version becomes the default; the first is made default again; v2 deleted.
    wider = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": ["ram:List*"], "Resource": "*"}],
    }
    page.get_by_label("New version (JSON)").fill(json.dumps(wider))
    page.get_by_role("button", name="Create version").click()
    expect(page.get_by_text("Version v2 of key-readers was created.")).to_be_visible()
    expect(page.locator("#version-v2")).to_contain_text("Default")
    shot(page, console, "policy")
    page.locator("#version-v1").get_by_role("button", name="Make default").click()
    expect(page.locator("#version-v1")).to_contain_text("Default")
    open_dialog(page, "delete-version-v2").get_by_role("button", name="Delete version").click()
    expect(page.locator("#version-v2")).to_have_count(0)
    versions = root.ram("ListPolicyVersions", PolicyName="key-readers", PolicyType="Custom")
    assert [v["VersionId"] for v in versions["PolicyVersions"]["PolicyVersion"]] == ["v1"]
    # Detach everywhere, then delete the policy through its typed-name dialog.
    page.locator("#entity-user-ivy").get_by_role("button", name="Detach").click()
    page.locator("#entity-group-devs").get_by_role("button", name="Detach").click()
    expect(page.get_by_text("Not attached anywhere.")).to_be_visible()
    dialog = open_dialog(page, "delete-policy")
    dialog.get_by_label("Type the policy name to confirm").fill("key-readers")
    dialog.get_by_role("button", name="Delete policy").click()
    expect(page.get_by_text("Policy key-readers was deleted.")).to_be_visible()
    custom = root.ram("ListPolicies", PolicyType="Custom")["Policies"]["Policy"]
    assert custom == []


def test_roles_end_to_end(console: Server, owner: dict[str, Any], root: Api, page: Any) -> None:
    me = root.sts("GetCallerIdentity")["AccountId"]
    principal = make_user(root, owner, "kit")
    root.ram(
        "AttachPolicyToUser",
        UserName="kit",
        PolicyName="AliyunSTSAssumeRoleAccess",
        PolicyType="System",
    )
    kit_key = make_key(root, principal)
    kit = Api("v3", console.endpoint, kit_key["AccessKeyId"], kit_key["AccessKeySecret"])
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.locator("nav.side").get_by_role("link", name="Roles").click()
    expect(page.get_by_text("No roles.")).to_be_visible()
    page.get_by_label("Role name").fill("Deployer")
    page.get_by_label("Description").fill("CI deploys")
    editor = page.get_by_label("Trust policy (JSON): who may assume the role")
    # It starts from a policy that trusts the account's own identities.
    assert json.loads(editor.input_value())["Statement"][0]["Principal"] == {
        "RAM": [f"acs:ram::{me}:root"]
    }
    # The editor checks the document before it can be saved...
    editor.fill('{"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}')
    expect(page.get_by_text("Each statement needs a Principal")).to_be_visible()
    create = page.get_by_role("button", name="Create role")
    expect(create).to_be_disabled()
    # ...and the server refuses what the editor cannot know, keeping the draft.
    editor.fill(trust("acs:ram::not-an-account:root"))
    create.click()
    expect(page.locator("#flash-error")).to_be_visible()
    expect(page.get_by_label("Role name")).to_have_value("Deployer")
    page.get_by_label("Trust policy (JSON): who may assume the role").fill(
        trust(f"acs:ram::{me}:user/kit")
    )
    page.get_by_role("button", name="Create role").click()
    expect(page.get_by_text("Role Deployer was created.")).to_be_visible()
    expect(page.locator("#role-arn")).to_have_text(f"acs:ram::{me}:role/deployer")
    page.get_by_label("Attach a policy").select_option("System:AliyunRAMReadOnlyAccess")
    page.locator("form", has=page.get_by_label("Attach a policy")).get_by_role(
        "button", name="Attach"
    ).click()
    expect(page.locator("#policy-AliyunRAMReadOnlyAccess")).to_be_visible()
    attached = root.ram("ListPoliciesForRole", RoleName="Deployer")["Policies"]["Policy"]
    assert [p["PolicyName"] for p in attached] == ["AliyunRAMReadOnlyAccess"]
    # The trust policy editor saves through UpdateRole.
    page.get_by_label("Maximum session duration").fill("7200")
    page.get_by_role("button", name="Save role").click()
    expect(page.get_by_text("Role Deployer was updated.")).to_be_visible()
    assert root.ram("GetRole", RoleName="Deployer")["Role"]["MaxSessionDuration"] == 7200

    # kit assumes it through the SDK; the page shows the session, and its key leads to what
    # the session did.
    reply = kit.sts("AssumeRole", RoleArn=f"acs:ram::{me}:role/deployer", RoleSessionName="ship-1")
    creds = reply["Credentials"]
    session = Api(
        "v3",
        console.endpoint,
        creds["AccessKeyId"],
        creds["AccessKeySecret"],
        creds["SecurityToken"],
    )
    session.ims("ListUsers")
    sessions = page.locator("tr.session")

    def shown() -> bool:
        page.reload()
        return sessions.count() == 1

    assert eventually(shown, 15)
    expect(sessions).to_contain_text("ship-1")
    expect(sessions).to_contain_text("kit")
    expect(sessions).to_contain_text(kit_key["AccessKeyId"])
    shot(page, console, "role")
    sessions.get_by_role("link", name=creds["AccessKeyId"]).click()
    rows = page.locator("table.events tbody tr")
    expect(rows.filter(has_text="ListUsers")).to_have_count(1)
    expect(rows.filter(has_text="ListUsers")).to_contain_text("Deployer:ship-1")
    # The policy's page names the role too.
    page.goto(url(console, "/console/policies/System/AliyunRAMReadOnlyAccess"))
    expect(page.locator("#entity-role-Deployer")).to_be_visible()

    # A role with a policy cannot be deleted; detached, it can (typed name), and its session
    # ends with it.
    page.goto(url(console, "/console/roles/Deployer"))
    dialog = open_dialog(page, "delete-role")
    dialog.get_by_label("Type the role name to confirm").fill("Deployer")
    dialog.get_by_role("button", name="Delete role").click()
    expect(page.locator("#flash-error")).to_be_visible()
    page.locator("#policy-AliyunRAMReadOnlyAccess").get_by_role("button", name="Detach").click()
    expect(page.get_by_text("was detached from Deployer")).to_be_visible()
    dialog = open_dialog(page, "delete-role")
    dialog.get_by_label("Type the role name to confirm").fill("Deployer")
    dialog.get_by_role("button", name="Delete role").click()
    expect(page.get_by_text("Role Deployer was deleted.")).to_be_visible()
    assert root.ram("ListRoles")["Roles"]["Role"] == []
    expect_error("InvalidSecurityToken.Malformed", 400, session.ims, "ListUsers")


def test_the_trail_has_one_event_per_console_action_with_vendor_codes(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    principal = make_user(root, owner, "jo")
    sign_in(page, console, owner["AccountName"], PASSWORD)  # lands on the users: ListUsers
    page.goto(url(console, "/console/users/jo"))  # GetUser
    page.locator("nav.tabs").get_by_role("link", name="AccessKeys").click()  # ListAccessKeys
    page.get_by_role("button", name="Create AccessKey").click()  # CreateAccessKey, then no event
    key_id = page.locator("#new-key-id").inner_text()
    page.get_by_role("link", name="I have saved the secret").click()  # ListAccessKeys
    page.locator("nav.tabs").get_by_role("link", name="Details").click()  # GetUser
    # Refused (an Active pair), then back on the user's page: DeleteUser, GetUser.
    open_dialog(page, "delete-user").get_by_role("button", name="Delete user").click()
    expect(page.locator("#flash-error")).to_contain_text("disable it before deleting the user")
    page.locator("nav.side").get_by_role("link", name="Audit trail").click()  # LookupEvents

    def console_events() -> list[dict[str, Any]]:
        return [e for e in events(root) if e["eventType"] == "ConsoleOperation"]

    found = eventually(lambda: len(console_events()) >= 9 and console_events())
    assert sorted((e["eventName"], e["errorCode"] or "") for e in found) == sorted(
        [
            ("ListUsers", ""),
            ("GetUser", ""),
            ("ListAccessKeys", ""),
            ("CreateAccessKey", ""),
            ("ListAccessKeys", ""),
            ("GetUser", ""),
            ("DeleteUser", "DeleteConflict.User.AccessKey"),
            ("GetUser", ""),
            ("LookupEvents", ""),
        ]
    )
    by_name = {e["eventName"]: e for e in found}
    assert by_name["CreateAccessKey"]["eventRW"] == "Write"
    assert by_name["CreateAccessKey"]["responseElements"]["AccessKeyId"] == key_id
    assert by_name["DeleteUser"]["requestParameters"] == {"UserName": "jo"}
    assert all(e["userIdentity"]["type"] == "root-account" for e in found)
    assert all(e["apiVersion"] == "console" for e in found)
    secrets_seen = [e for e in found if "AccessKeySecret" in json.dumps(e)]
    assert secrets_seen == []
    # The trail page: one line per event, the resource it concerned, filters, vendor codes.
    page.reload()
    shot(page, console, "audit-trail")
    page.get_by_label("Errors only").check()
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.events tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("DeleteUser")
    expect(rows).to_contain_text("DeleteConflict.User.AccessKey")
    expect(rows).to_contain_text("jo")
    page.get_by_label("Errors only").uncheck()
    page.get_by_label("Read/Write").select_option("Write")
    page.get_by_label("Event").fill("CreateAccessKey")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(key_id)
    page.get_by_label("Event").fill("")
    page.get_by_label("From (UTC)").fill("yesterday")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("Use a UTC time such as")).to_be_visible()
    assert root.ims("GetUser", UserPrincipalName=principal)["User"]["UserName"] == "jo"


def test_settings_immediate_deletion_and_the_credential_report(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    principal = make_user(root, owner, "kim")
    key = make_key(root, principal)["AccessKeyId"]
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.locator("nav.side").get_by_role("link", name="Settings").click()
    page.get_by_label("RAM users may manage their own AccessKeys").check()
    page.locator("form", has=page.get_by_label("RAM users may manage")).get_by_role(
        "button", name="Save"
    ).click()
    expect(page.get_by_text("The security preference was saved.")).to_be_visible()
    preference = root.ims("GetSecurityPreference")["SecurityPreference"]["AccessKeyPreference"]
    assert preference["AllowUserToManageAccessKeys"] is True
    # Immediate deletion: a dialog that says what it means, confirmed by typing.
    dialog = open_dialog(page, "immediate")
    expect(dialog).to_contain_text("even an Active one")
    dialog.get_by_label("Type immediate to confirm").fill("immediate")
    shot(page, console, "settings-dialog")
    dialog.get_by_role("button", name="Switch to immediate deletion").click()
    expect(page.get_by_text("How AccessKeys are deleted was saved.")).to_be_visible()
    shot(page, console, "settings")
    # As the README says: in this mode an Active pair may be deleted, and is gone for good.
    page.goto(url(console, "/console/users/kim/keys"))
    dialog = open_dialog(page, f"delete-{key}")
    expect(dialog).to_contain_text("even if it is Active")
    dialog.get_by_label("Type the AccessKey ID to confirm").fill(key)
    dialog.get_by_role("button", name="Delete AccessKey").click()
    expect(page.get_by_text(f"AccessKey {key} was deleted.")).to_be_visible()
    user_id = root.ims("GetUser", UserPrincipalName=principal)["User"]["UserId"]
    binned = root.ims("ListAccessKeysInRecycleBin", UserId=user_id)["AccessKeys"]["AccessKey"]
    assert keys_of(root, owner, "kim") == [] and binned == []
    # The credential report: generate, then download.
    page.locator("nav.side").get_by_role("link", name="Credential report").click()
    page.get_by_role("button", name="Generate report").click()
    expect(page.get_by_text("A new report was generated.")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    report = Path(download.value.path()).read_text()
    assert report.startswith("user,user_creation_time") and "\nkim@" in report


def test_the_console_is_usable_390_pixels_wide(
    console: Server, owner: dict[str, Any], root: Api, browser: Any
) -> None:
    principal = make_user(root, owner, "liz")
    make_key(root, principal)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        sign_in(page, console, owner["AccountName"], PASSWORD)
        for path in (
            "/console/users",
            "/console/users/liz/keys",
            "/console/audit",
            "/console/policies",
        ):
            page.goto(url(console, path))
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
            expect(page.get_by_role("button", name="Sign out")).to_be_in_viewport()
            expect(page.locator("nav.side a[aria-current=page]")).to_be_visible()
        page.goto(url(console, "/console/users/liz/keys"))
        shot(page, console, "narrow")
    finally:
        context.close()


def test_the_owner_rotates_the_root_pair(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.locator("nav.side").get_by_role("link", name="My AccessKeys").click()
    old = owner["AccessKeyId"]
    expect(page.locator(f"#key-{old}")).to_contain_text("Active")
    dialog = open_dialog(page, "rotate")
    expect(dialog).to_contain_text(old)
    dialog.get_by_role("button", name="Create the new pair").click()
    new_id = page.locator("#new-key-id").inner_text()
    secret = page.locator("#new-key-secret").inner_text()
    page.get_by_role("link", name="I have saved the secret").click()
    assert page.url.endswith("/console/keys")
    fresh = Api("v3", console.endpoint, new_id, secret)
    assert fresh.sts("GetCallerIdentity")["IdentityType"] == "Account"
    open_dialog(page, f"disable-{old}").get_by_role("button", name="Disable").click()
    dialog = open_dialog(page, f"delete-{old}")
    dialog.get_by_label("Type the AccessKey ID to confirm").fill(old)
    dialog.get_by_role("button", name="Delete AccessKey").click()
    expect(page.locator(f"#binned-{old}")).to_be_visible()
    live = fresh.ims("ListAccessKeys")["AccessKeys"]["AccessKey"]
    assert [k["AccessKeyId"] for k in live] == [new_id]


def test_attaching_everything_asks_first_and_the_limits_are_the_rules(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    """No picker selects a policy by itself; a policy with * on * (AdministratorAccess, or a
    custom one) is attached only once confirmed in a dialog; the limits the pages state are
    those domain/rules.py enforces."""
    from keyhouse.domain import rules

    make_user(root, owner, "kim")
    root.ram(
        "CreatePolicy",
        PolicyName="god-mode",
        PolicyDocument=json.dumps(
            {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.goto(url(console, "/console/users/kim/policies"))
    picker = page.get_by_label("Attach a policy")
    assert picker.input_value() == ""  # "Choose a policy…", not the first policy
    attach = page.locator("form", has=picker).get_by_role("button", name="Attach")
    for name, kind in (("AdministratorAccess", "System"), ("god-mode", "Custom")):
        page.get_by_label("Attach a policy").select_option(f"{kind}:{name}")
        attach.click()
        dialog = page.locator("dialog#confirm-everything")
        expect(dialog).to_have_attribute("open", "")
        expect(dialog).to_contain_text(f"{name} allows every action on every resource")
        dialog.get_by_role("button", name="Cancel").click()
        expect(page.locator(f"#policy-{name}")).to_have_count(0)
        page.get_by_label("Attach a policy").select_option(f"{kind}:{name}")
        attach.click()
        page.locator("dialog#confirm-everything").get_by_role("button", name="Attach it").click()
        expect(page.locator(f"#policy-{name}")).to_be_visible()
    attached = root.ram("ListPoliciesForUser", UserName="kim")["Policies"]["Policy"]
    assert sorted(p["PolicyName"] for p in attached) == ["AdministratorAccess", "god-mode"]
    # A narrower policy attaches at once.
    page.get_by_label("Attach a policy").select_option("System:AliyunRAMReadOnlyAccess")
    page.locator("form", has=page.get_by_label("Attach a policy")).get_by_role(
        "button", name="Attach"
    ).click()
    expect(page.locator("#policy-AliyunRAMReadOnlyAccess")).to_be_visible()
    # The limits.
    page.goto(url(console, "/console/keys"))
    expect(page.locator("#key-limit")).to_contain_text(f"At most {rules.ROOT_KEY_LIMIT} pairs")
    page.goto(url(console, "/console/users/kim/keys"))
    expect(page.locator("#key-limit")).to_contain_text(f"At most {rules.USER_KEY_LIMIT} pairs")
    page.goto(url(console, "/console/recycle-bin"))
    expect(page.locator("#bin-rule")).to_contain_text(f"at most {rules.USER_BIN_LIMIT:,} per")
    # The header names the account; the trail opens one event in full.
    expect(page.locator("#account-name")).to_have_text(owner["AccountName"])
    page.goto(url(console, "/console/audit?event=AttachPolicyToUser"))
    page.locator("td.event a").first.click()
    expect(page.locator("#event-json")).to_contain_text('"eventName": "AttachPolicyToUser"')
    expect(page.locator("#event-resources")).to_contain_text("kim")
    assert page.locator("#chain-position").inner_text().split()[0].isdigit()
