# ruff: noqa: F811  (the console fixtures are imported by name from test_console)
"""Console sign-in an operator can trust, in a real browser (Playwright and Debian's Chromium)
on SQLite and PostgreSQL: MFA bound with a QR code's key and two consecutive codes, sign-in
with a code (a used code refused), MFA required by the security preference, unbinding; the
owner giving a RAM user a password it must change; a RAM user's first page in each preference
state, with only the pages it may use offered; tables that keep their buttons in view.

Codes are computed here from the key the binding page shows, as a phone would."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from tests.integration.conftest import upn
from tests.integration.sdk import Api, ApiError
from tests.integration.server import Server
from tests.integration.steps import bin_key, make_key, make_user
from tests.integration.test_console import (  # noqa: F401  (fixtures)
    PASSWORD,
    console,
    open_dialog,
    owner,
    page,
    root,
    sign_in,
    url,
)

USER_PASSWORD = "User-Passw0rd"


def step_now() -> int:
    return int(time.time()) // 30


def code_after(seed: str, used: int) -> tuple[str, int]:
    """A code of a step after ``used`` that the server accepts now (the step after the
    current one is accepted too), waiting for the clock when there is none yet."""
    while True:
        step = max(used + 1, step_now() - 1)
        if step <= step_now() + 1:
            return pyotp.TOTP(seed).generate_otp(step), step
        time.sleep(0.5)


def bind_here(page: Any) -> tuple[str, int]:
    """Bind a device on the binding page the browser shows: (the key, the step of the second
    code)."""
    seed = page.locator("#mfa-seed").inner_text()
    qr = page.locator("#mfa-qr")
    assert page.evaluate("(img) => img.naturalWidth", qr.element_handle()) > 0
    step = step_now()
    totp = pyotp.TOTP(seed)
    page.get_by_label("First code").fill(totp.generate_otp(step - 1))
    page.get_by_label("Next code").fill(totp.generate_otp(step))
    page.get_by_role("button", name="Bind").click()
    return seed, step


def give_code(page: Any, code: str) -> None:
    page.get_by_label("Code from your MFA device").fill(code)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(url_end("/console/signin"))


def url_end(path: str) -> Any:
    import re

    return re.compile(re.escape(path) + r"$")


def user_with_password(root: Api, account: dict[str, Any], name: str, **profile: Any) -> None:
    root.ims("CreateUser", UserPrincipalName=upn(account, name), DisplayName=name)
    root.ims(
        "CreateLoginProfile",
        UserPrincipalName=upn(account, name),
        Password=USER_PASSWORD,
        PasswordResetRequired=False,
        **profile,
    )


def test_the_owner_binds_mfa_signs_in_with_a_code_once_and_unbinds(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.locator("nav.side").get_by_role("link", name="My MFA device").click()
    expect(page.get_by_text("No MFA device is bound")).to_be_visible()
    page.get_by_role("button", name="Bind an MFA device").click()
    expect(page.get_by_text("This key is shown once")).to_be_visible()
    seed, used = bind_here(page)
    expect(page.get_by_text("Your MFA device is bound")).to_be_visible()
    expect(page.locator("dl.details")).to_contain_text(f"acs:ram::{owner['AccountId']}:mfa/")
    assert seed not in page.content()  # shown once
    sign_out(page)

    # The password alone no longer opens a page: the code does, once.
    sign_in(page, console, owner["AccountName"], PASSWORD)
    expect(page).to_have_url(url_end("/console/mfa/code"))
    page.goto(url(console, "/console/users"))
    expect(page).to_have_url(url_end("/console/mfa/code"))
    reused = pyotp.TOTP(seed).generate_otp(used)  # the binding's second code: spent
    give_code(page, reused)
    expect(page.get_by_role("alert")).to_contain_text("wrong, or was used already")
    code, used = code_after(seed, used)
    give_code(page, code)
    expect(page).to_have_url(url_end("/console/users"))
    sign_out(page)
    sign_in(page, console, owner["AccountName"], PASSWORD)
    give_code(page, code)  # the same code again, in a new sign-in
    expect(page.get_by_role("alert")).to_contain_text("wrong, or was used already")
    code, used = code_after(seed, used)
    give_code(page, code)
    expect(page).to_have_url(url_end("/console/users"))

    # The events say who signed in, and the refusals; no code is in them.
    found = root.trail(
        "LookupEvents", LookupAttribute=[{"Key": "EventName", "Value": "ConsoleSignin"}]
    )["Events"]
    codes = [e.get("errorCode") for e in found]
    assert codes.count("ConsoleSignin.MFAFailed") == 2 and None in codes
    assert code not in repr(found) and seed not in repr(found)

    # Unbinding takes a current code.
    page.goto(url(console, "/console/mfa"))
    dialog = open_dialog(page, "unbind-mfa")
    code, used = code_after(seed, used)
    dialog.get_by_label("Code from the device").fill(code)
    dialog.get_by_role("button", name="Unbind and delete").click()
    expect(page.get_by_text("Your MFA device was unbound")).to_be_visible()
    sign_out(page)
    sign_in(page, console, owner["AccountName"], PASSWORD)
    expect(page).to_have_url(url_end("/console/users"))

    # A lost phone: the operator resets the owner's device.
    page.goto(url(console, "/console/mfa"))
    page.get_by_role("button", name="Bind an MFA device").click()
    bind_here(page)
    expect(page.get_by_text("Your MFA device is bound")).to_be_visible()
    done = console.cli("mfa", "reset", "--account", owner["AccountName"], "--owner")
    assert ":mfa/console-owner is unbound and deleted" in done.stdout
    sign_out(page)
    sign_in(page, console, owner["AccountName"], PASSWORD)
    expect(page).to_have_url(url_end("/console/users"))


def test_the_preference_requires_mfa_a_user_binds_then_signs_in_with_codes(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    user_with_password(root, owner, "ann")
    root.ims("SetSecurityPreference", MFAOperationForLogin="mandatory")
    sign_in(page, console, owner["AccountName"], USER_PASSWORD, user="ann")
    expect(page).to_have_url(url_end("/console/mfa"))
    expect(page.locator("#mfa-required")).to_be_visible()
    page.goto(url(console, "/console/keys"))  # nothing else opens before a device is bound
    expect(page).to_have_url(url_end("/console/mfa"))
    page.get_by_role("button", name="Bind an MFA device").click()
    seed, used = bind_here(page)
    expect(page.get_by_text("Your MFA device is bound")).to_be_visible()
    expect(page.get_by_role("heading", name="Welcome, ann")).to_be_visible()
    info = root.ims("GetUserMFAInfo", UserPrincipalName=upn(owner, "ann"))
    assert info["IsMFAEnable"] is True
    sign_out(page)
    sign_in(page, console, owner["AccountName"], USER_PASSWORD, user="ann")
    expect(page).to_have_url(url_end("/console/mfa/code"))
    give_code(page, "000000" if pyotp.TOTP(seed).now() != "000000" else "111111")
    expect(page.get_by_role("alert")).to_contain_text("wrong")
    code, used = code_after(seed, used)
    give_code(page, code)
    expect(page.get_by_role("heading", name="Welcome, ann")).to_be_visible()

    # The owner unbinds the lost device from ann's page; ann must bind a new one.
    owner_page = page.context.browser.new_context().new_page()
    sign_in(owner_page, console, owner["AccountName"], PASSWORD)
    owner_page.goto(url(console, "/console/users/ann"))
    expect(owner_page.locator("#logon-device")).to_contain_text(":mfa/")
    open_dialog(owner_page, "unbind-user-mfa").get_by_role("button", name="Unbind").click()
    expect(owner_page.get_by_text("ann's MFA device was unbound")).to_be_visible()
    expect(owner_page.locator("#logon-device")).to_have_text("None")
    owner_page.context.close()
    sign_out(page)
    sign_in(page, console, owner["AccountName"], USER_PASSWORD, user="ann")
    expect(page).to_have_url(url_end("/console/mfa"))
    expect(page.locator("#mfa-required")).to_be_visible()


def test_the_owner_gives_a_user_a_password_that_must_be_changed_at_first_sign_in(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    make_user(root, owner, "ben")
    sign_in(page, console, owner["AccountName"], PASSWORD)
    page.goto(url(console, "/console/users/ben"))
    expect(page.locator("#logon-status")).to_contain_text("cannot sign in")
    dialog = open_dialog(page, "logon-enable")
    dialog.locator("#enable-password").fill("First-Passw0rd")
    dialog.get_by_label("Password again").fill("First-Passw0rd")
    dialog.get_by_role("button", name="Enable").click()
    expect(page.get_by_text("ben can sign in to the console now.")).to_be_visible()
    expect(page.locator("#logon-status")).to_have_text("Enabled")
    expect(page.locator("#logon-reset")).to_have_text("Required")
    profile = root.ims("GetLoginProfile", UserPrincipalName=upn(owner, "ben"))["LoginProfile"]
    assert profile["PasswordResetRequired"] is True and profile["MFABindRequired"] is False

    ben = page.context.browser.new_context().new_page()
    sign_in(ben, console, owner["AccountName"], "First-Passw0rd", user="ben")
    expect(ben).to_have_url(url_end("/console/password"))
    expect(ben.get_by_text("requires a new password")).to_be_visible()
    ben.get_by_label("Current password").fill("First-Passw0rd")
    ben.locator("#new").fill("Second-Passw0rd")
    ben.get_by_label("New password again").fill("Second-Passw0rd")
    ben.get_by_role("button", name="Change password").click()
    expect(ben.get_by_text("Your password was changed.")).to_be_visible()

    # The owner resets it, requires MFA, and at last turns sign-in off.
    page.reload()
    expect(page.locator("#logon-reset")).to_have_text("No")
    dialog = open_dialog(page, "logon-settings")
    dialog.locator("#logon-password").fill("Third-Passw0rd")
    dialog.get_by_label("New password again").fill("Third-Passw0rd")
    dialog.get_by_label("Require a new password at the next sign-in").check()
    dialog.get_by_label("Require MFA").check()
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_text("ben's password was reset")).to_be_visible()
    expect(page.locator("#logon-mfa")).to_have_text("Required")
    expect(page.locator("#logon-reset")).to_have_text("Required")
    ben.reload()  # the reset ended ben's session
    expect(ben).to_have_url(url_end("/console/signin"))
    dialog = open_dialog(page, "logon-settings")
    dialog.get_by_label("Console sign-in enabled").uncheck()
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("#logon-status")).to_have_text("Disabled")
    sign_in(ben, console, owner["AccountName"], "Third-Passw0rd", user="ben")
    expect(ben.get_by_role("alert")).to_contain_text("wrong")
    open_dialog(page, "remove-logon").get_by_role("button", name="Remove").click()
    expect(page.get_by_text("ben can no longer sign in")).to_be_visible()
    ben.context.close()


def test_a_ram_user_lands_on_a_page_that_works_in_each_preference_state(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    user_with_password(root, owner, "cat")
    sign_in(page, console, owner["AccountName"], USER_PASSWORD, user="cat")
    expect(page.get_by_role("heading", name="Welcome, cat")).to_be_visible()
    expect(page.locator("#no-keys")).to_contain_text("AllowUserToManageAccessKeys")
    expect(page.locator("#no-keys")).to_contain_text(owner["AccountName"])
    side = page.locator("nav.side")
    for hidden in ("Users", "My AccessKeys", "Audit trail", "Settings", "Policies"):
        expect(side.get_by_role("link", name=hidden, exact=True)).to_have_count(0)
    # A page it may not use says so, and "Back" leads to a page that works.
    page.goto(url(console, "/console/users"))
    expect(page.get_by_role("alert")).to_contain_text("not allowed")
    page.get_by_role("link", name="Back to the console").click()
    expect(page.get_by_role("heading", name="Welcome, cat")).to_be_visible()

    root.ims("SetSecurityPreference", AllowUserToManageAccessKeys=True)
    page.goto(url(console, "/console"))
    expect(page).to_have_url(url_end("/console/keys"))
    expect(side.get_by_role("link", name="My AccessKeys")).to_have_count(1)
    page.get_by_role("button", name="Create AccessKey").click()
    expect(page.locator("#new-key-secret")).to_be_visible()

    root.ram(
        "AttachPolicyToUser",
        PolicyType="System",
        PolicyName="AliyunRAMReadOnlyAccess",
        UserName="cat",
    )
    page.goto(url(console, "/console"))
    expect(side.get_by_role("link", name="Users", exact=True)).to_have_count(1)
    expect(side.get_by_role("link", name="Settings", exact=True)).to_have_count(1)


# Every button of a page, and every code in a table: where it lies against the viewport and
# the visible part of the table's scroll area.
OUTSIDE = """() => {
  const outside = [];
  const visible = (el) => el.offsetParent !== null && !el.closest("dialog:not([open])");
  const items = Array.from(document.querySelectorAll("main button, main td code, main td .badge"));
  for (const el of items.filter(visible)) {
    const r = el.getBoundingClientRect();
    let box = { left: 0, right: document.documentElement.clientWidth };
    const wrap = el.closest(".table-wrap");
    if (wrap) {
      const w = wrap.getBoundingClientRect();
      box = { left: Math.max(box.left, w.left), right: Math.min(box.right, w.right) };
    }
    if (r.left < box.left - 1 || r.right > box.right + 1) outside.push(el.textContent.trim());
  }
  const scrolling = Array.from(document.querySelectorAll(".table-wrap"))
    .filter((w) => w.scrollWidth > w.clientWidth + 1);
  return {
    outside,
    scrolling: scrolling.length,
    cued: scrolling.filter((w) => w.classList.contains("scrolls")).length,
    page: document.documentElement.scrollWidth > document.documentElement.clientWidth + 1,
  };
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_no_button_or_code_lies_outside_the_viewport_or_its_scroll_area(
    console: Server, owner: dict[str, Any], root: Api, browser: Any, width: int
) -> None:
    name = "dan-" + uuid.uuid4().hex[:6]
    principal = make_user(root, owner, name)
    bin_key(root, principal, make_key(root, principal)["AccessKeyId"])
    make_key(root, principal)
    # A refused call, for the trail's Result column: its code is long.
    with pytest.raises(ApiError):
        root.ims("GetLoginProfile", UserPrincipalName=principal)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    sign_in(page, console, owner["AccountName"], PASSWORD)
    for where in (
        f"/console/users/{name}",
        f"/console/users/{name}/keys",
        f"/console/users/{name}/bin",
        "/console/keys",
        "/console/audit",
    ):
        page.goto(url(console, where))
        found = page.evaluate(OUTSIDE)
        assert found["outside"] == [], (where, width, found)
        assert found["cued"] == found["scrolling"], (where, width, found)
        assert not found["page"], (where, width, "the page itself scrolls sideways")
    context.close()


def test_wrong_codes_count_against_the_sign_in_throttle(
    console: Server, owner: dict[str, Any], root: Api, page: Any
) -> None:
    # The login profile requires MFA (the preference does not): gus binds at its first sign-in.
    user_with_password(root, owner, "gus", MFABindRequired=True)
    sign_in(page, console, owner["AccountName"], USER_PASSWORD, user="gus")
    expect(page.locator("#mfa-required")).to_be_visible()
    page.get_by_role("button", name="Bind an MFA device").click()
    seed, used = bind_here(page)
    expect(page.get_by_text("Your MFA device is bound")).to_be_visible()
    sign_out(page)
    sign_in(page, console, owner["AccountName"], USER_PASSWORD, user="gus")
    totp = pyotp.TOTP(seed)
    wrong = next(
        c
        for c in ("000000", "111111", "222222")
        if c not in {totp.now(), totp.at(time.time() + 30)}
    )
    statuses = []
    for _ in range(5):
        with page.expect_response(lambda r: r.url.endswith("/console/mfa/code")) as answer:
            give_code(page, wrong)
        statuses.append(answer.value.status)
    # The password counted once; four wrong codes reach the limit of five, the fifth is over it.
    assert statuses == [401, 401, 401, 401, 429], statuses
    code, _ = code_after(seed, used)
    give_code(page, code)  # even the right code waits now
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
