"""Network access policy editors (a key's and the account's). A draft is checked against the
last 30 days of requests before it is saved: a draft that would refuse some of them is saved
only once the person confirms, having seen how many."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from keyhouse.console.keys import key_params, owner
from keyhouse.console.web import Ctx, Pages, Redirect, path
from keyhouse.domain.actions import Action

PAGES = Pages()
DAYS = 30


@dataclass(frozen=True)
class Editor:
    title: str
    read: Callable[[Ctx], str]
    write: Callable[[Ctx, str], Any]
    simulate: Callable[[Ctx, str], list[dict[str, Any]]]
    here: Callable[[Ctx], str]  # the editor's own address
    back: Callable[[Ctx], str]  # where "Back" leads
    nav: str


def _key_editor_here(ctx: Ctx) -> str:
    name = ctx.request.path_params.get("name")
    parts = ("users", name, "keys") if name is not None else ("keys",)
    return path(*parts, ctx.arg("key"), "policy")


def _key_back(ctx: Ctx) -> str:
    name = ctx.request.path_params.get("name")
    return path("users", name, "keys") if name is not None else "/console/keys"


def _simulate_key(ctx: Ctx, document: str) -> list[dict[str, Any]]:
    ctx.svc.keys.network_policy(ctx.who, owner(ctx), ctx.arg("key"))  # may it see this key?
    return ctx.svc.trail.simulate(ctx.who, ctx.arg("key"), document, DAYS)


KEY = Editor(
    "Network access policy of an AccessKey",
    lambda c: c.svc.keys.network_policy(c.who, owner(c), c.arg("key")),
    lambda c, d: c.svc.keys.set_network_policy(c.who, owner(c), c.arg("key"), d),
    _simulate_key,
    _key_editor_here,
    _key_back,
    "keys",
)
ACCOUNT = Editor(
    "Network access policy of the account",
    lambda c: c.svc.accounts.network_policy(c.who),
    lambda c, d: c.svc.accounts.set_network_policy(c.who, d),
    lambda c, d: c.svc.trail.simulate_account(c.who, d, DAYS),
    lambda c: "/console/network-policy",
    lambda c: "/console/settings",
    "network",
)


def _view(ctx: Ctx, editor: Editor, refused: list[dict[str, Any]] | None, draft: str) -> Response:
    pending = bool(refused)  # seen what it would refuse: saving it is a decision
    return ctx.page(
        "network.html",
        check=editor.here(ctx) + "/check",
        nav="users" if ctx.request.path_params.get("name") else editor.nav,
        title=editor.title,
        subject=ctx.request.path_params.get("key", ""),
        document=draft if refused is not None else ctx.flash.form.get("policy", draft),
        refused=refused,
        pending=pending,
        here=editor.here(ctx),
        back=editor.back(ctx),
    )


def _show(editor: Editor) -> Callable[[Ctx], Response]:
    return lambda ctx: _view(ctx, editor, None, editor.read(ctx))


def _stash(editor: Editor) -> Callable[[Ctx], Redirect]:
    """Carry the draft over to the check's page (post/redirect/get)."""
    return lambda ctx: Redirect(
        editor.here(ctx) + "/check", form={"policy": ctx.form.get("policy", "")}
    )


def _check(editor: Editor) -> Callable[[Ctx], Response]:
    def check(ctx: Ctx) -> Response:
        draft = ctx.flash.form.get("policy")
        if draft is None:  # a reload: the draft was shown once
            return _view(ctx, editor, None, editor.read(ctx))
        return _view(ctx, editor, editor.simulate(ctx, draft), draft)

    return check


def _save(editor: Editor) -> Callable[[Ctx], Redirect]:
    def save(ctx: Ctx) -> Redirect:
        draft = ctx.form.get("policy", "")
        if ctx.scratch.get("refused"):
            # Only a check, and recorded as one (the check page's LookupEvents): the draft
            # goes to the check page, which lists what it would refuse and offers to save.
            return Redirect(editor.here(ctx) + "/check", form={"policy": draft})
        editor.write(ctx, draft)
        return Redirect(
            editor.here(ctx), notice="The policy was saved. It applies from the next request."
        )

    return save


def _saving(editor: Editor, write: Action) -> Callable[[Ctx], Action | None]:
    """A save's event: the write, unless the draft would have refused some of the last
    30 days' requests and the person has not seen them yet (then no event here: the check
    page that lists them records the check)."""

    def choose(ctx: Ctx) -> Action | None:
        if ctx.form.get("confirmed") != "yes":
            ctx.scratch["refused"] = bool(editor.simulate(ctx, ctx.form.get("policy", "")))
            if ctx.scratch["refused"]:
                return None
        return write

    return choose


def _none(_: Ctx) -> dict[str, str]:
    return {}


def _here(editor: Editor) -> Callable[[Ctx], str]:
    return editor.here


for route, editor, params, (read, write) in (
    (
        "/console/network-policy",
        ACCOUNT,
        _none,
        (Action.GetAccessKeyPolicyForAccount, Action.SetAccessKeyPolicyForAccount),
    ),
    (
        "/console/users/{name}/keys/{key}/policy",
        KEY,
        key_params,
        (Action.GetAccessKeyPolicy, Action.SetAccessKeyPolicy),
    ),
    (
        "/console/keys/{key}/policy",
        KEY,
        key_params,
        (Action.GetAccessKeyPolicy, Action.SetAccessKeyPolicy),
    ),
):
    PAGES.get(route, read, params)(_show(editor))
    # Checking a draft reads the trail: the draft is carried over to a page of its own.
    PAGES.post(route + "/check", None, _here(editor))(_stash(editor))
    PAGES.get(route + "/check", Action.LookupEvents, params)(_check(editor))
    PAGES.post(route, _saving(editor, write), _here(editor), params)(_save(editor))
