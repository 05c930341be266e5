from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.sdk import FLAVOURS, Api
from tests.integration.server import Server


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """One real server process per backend, shared by the tests of that backend."""
    workdir = tmp_path_factory.mktemp(f"keyhouse-{backend}")
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'keyhouse.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    srv = Server(url, workdir / "master.key", workdir).start()
    yield srv
    srv.stop()


@pytest.fixture
def own_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """A server and store of this test's own (it is killed, stopped, or its trail broken, on
    purpose); events the store refuses are set aside after 1 s."""
    workdir = tmp_path_factory.mktemp(f"own-{backend}")
    url = (
        f"sqlite:///{workdir / 'k.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("fresh_pg")
    )
    srv = Server(
        url, workdir / "master.key", workdir, extra_env={"KEYHOUSE_AUDIT_SET_ASIDE_AFTER": "1"}
    ).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that believes forwarding headers from 127.0.0.3 only."""
    workdir = tmp_path_factory.mktemp("proxied")
    srv = Server(
        f"sqlite:///{workdir / 'k.db'}",
        workdir / "master.key",
        workdir,
        extra_env={"KEYHOUSE_TRUSTED_PROXIES": "127.0.0.3/32"},
    ).start()
    yield srv
    srv.stop()


@pytest.fixture
def account(server: Server) -> dict[str, Any]:
    """A fresh account (created with the real CLI), so every test starts from empty."""
    return server.create_account(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def api(server: Server, account: dict[str, Any], flavour: str) -> Api:
    """The account root's client in the SDK flavour under test."""
    return Api(flavour, server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])


@pytest.fixture
def root(server: Server, account: dict[str, Any]) -> Api:
    """The account root through the default V3 SDK (for tests about one flavour-free rule)."""
    return Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])


def domain_of(account: dict[str, Any]) -> str:
    return f"{account['AccountName']}.onaliyun.com"


def upn(account: dict[str, Any], name: str) -> str:
    return f"{name}@{domain_of(account)}"


def expect_error(code: str, status: int, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from tests.integration.sdk import ApiError

    with pytest.raises(ApiError) as info:
        fn(*args, **kwargs)
    assert (info.value.code, info.value.status) == (code, status), str(info.value)
    return info.value


def as_user(server: Server, flavour: str, created: dict[str, Any]) -> Api:
    key = created["AccessKey"]
    return Api(flavour, server.endpoint, key["AccessKeyId"], key["AccessKeySecret"])


def workdir(server: Server) -> Path:
    return server.workdir


# Debian's Chromium, driven by Playwright (which never downloads a browser of its own).
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), "Debian's chromium is missing: scripts/test installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()
