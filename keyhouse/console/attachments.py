"""Attaching and detaching policies in the console, for each target of
keyhouse.services.attachments: from the target's policies tab (a user, a group, a role), and
from a policy's page (users and groups). One factory each; the page modules call them."""

from __future__ import annotations

from collections.abc import Callable

from keyhouse.console.web import Ctx, Pages, Redirect, confirm_everything, policy_named
from keyhouse.services.attachments import Target


def policies_tab(
    pages: Pages, target: Target, base: str, param: str, back: Callable[[Ctx], str]
) -> None:
    """The routes of a target's policies tab: attach the policy its picker names (``*`` on
    ``*`` only once confirmed), detach one. ``base`` is the target's page
    (``/console/users/{name}``), ``param`` the path parameter naming it, ``back`` where the
    browser goes afterwards."""

    def params(ctx: Ctx) -> dict[str, str]:
        kind, name = policy_named(ctx)
        return {target.parameter: ctx.arg(param), "PolicyType": kind, "PolicyName": name}

    @pages.post(f"{base}/policies", target.attach, back, params)
    def attach(ctx: Ctx) -> Redirect:
        holder, (kind, policy) = ctx.arg(param), policy_named(ctx)
        confirm_everything(ctx, kind, policy)
        ctx.svc.attachments.attach(ctx.who, target, target.ref(holder), kind, policy)
        return Redirect(back(ctx), notice=f"{policy} was attached to {holder}.")

    @pages.post(f"{base}/policies/{{kind}}/{{policy}}/detach", target.detach, back, params)
    def detach(ctx: Ctx) -> Redirect:
        holder, (kind, policy) = ctx.arg(param), policy_named(ctx)
        ctx.svc.attachments.detach(ctx.who, target, target.ref(holder), kind, policy)
        return Redirect(back(ctx), notice=f"{policy} was detached from {holder}.")


def from_policy(
    pages: Pages, target: Target, segment: str, field: str, back: Callable[[Ctx], str]
) -> None:
    """The routes that attach a policy to a target chosen on the policy's page (its ``field``
    picker), and detach it from one listed there (``.../<segment>/<name>/detach``)."""

    def holder(ctx: Ctx) -> str:
        return ctx.request.path_params.get(field) or ctx.form.get(field, "")

    def params(ctx: Ctx) -> dict[str, str]:
        kind, name = ctx.arg("kind"), ctx.arg("policy")
        return {"PolicyType": kind, "PolicyName": name, target.parameter: holder(ctx)}

    base = "/console/policies/{kind}/{policy}/" + segment

    @pages.post(base, target.attach, back, params)
    def attach(ctx: Ctx) -> Redirect:
        name, kind, policy = holder(ctx), ctx.arg("kind"), ctx.arg("policy")
        confirm_everything(ctx, kind, policy)
        ctx.svc.attachments.attach(ctx.who, target, target.ref(name), kind, policy)
        return Redirect(back(ctx), notice=f"{policy} was attached to {name}.")

    @pages.post(base + "/{" + field + "}/detach", target.detach, back, params)
    def detach(ctx: Ctx) -> Redirect:
        name, kind, policy = holder(ctx), ctx.arg("kind"), ctx.arg("policy")
        ctx.svc.attachments.detach(ctx.who, target, target.ref(name), kind, policy)
        return Redirect(back(ctx), notice=f"{policy} was detached from {name}.")
