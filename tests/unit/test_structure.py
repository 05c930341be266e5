"""How the code is laid out: no import cycles, small modules, transactions in one layer, and
the README's table of served actions the same as the routes."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import grimp

from keyhouse.app import route_table
from keyhouse.config import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "keyhouse"
LONGEST = 500


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_anywhere_in_keyhouse() -> None:
    # Every import counts, including those inside functions and under TYPE_CHECKING.
    graph = grimp.build_graph("keyhouse")
    assert _cycles(graph) == []


def test_the_console_and_the_api_stand_side_by_side() -> None:
    """Two surfaces on one floor: neither imports the other (where a request comes from is
    keyhouse.origin, below both)."""
    graph = grimp.build_graph("keyhouse")
    for one, other in (("keyhouse.console", "keyhouse.api"), ("keyhouse.api", "keyhouse.console")):
        assert not graph.chain_exists(importer=one, imported=other, as_packages=True), (one, other)


# Each durable write every request makes, as it looks in SQL or in SQLAlchemy Core.
DURABLE_WRITES = {
    "spend a nonce": re.compile(
        r"INSERT INTO nonces|insert\(nonces\)|(upsert|take_over)\([^)]*nonces"
    ),
    "note a key's last use": re.compile(r"SET last_used_at|values\(\s*last_used_at"),
    "append an event": re.compile(r"INSERT INTO audit_events|insert\(audit_events\)"),
    "read cache epochs": re.compile(r"FROM cache_epochs WHERE account_id IN"),
}


def durable_writes(files: dict[str, str]) -> dict[str, set[str]]:
    """Which files implement each durable write."""
    return {
        write: {name for name, text in files.items() if pattern.search(text)}
        for write, pattern in DURABLE_WRITES.items()
    }


def test_each_durable_write_is_implemented_once() -> None:
    files = {
        str(path.relative_to(ROOT)): path.read_text()
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts
    }
    found = durable_writes(files)
    assert found == {write: {"keyhouse/store/durable.py"} for write in DURABLE_WRITES}


def test_the_durable_write_finder_finds_a_second_implementation() -> None:
    files = {
        "a.py": 'sql = "INSERT INTO nonces (access_key_id) VALUES (?)"',
        "b.py": "stmt = take_over(dialect, nonces, where)",
    }
    assert durable_writes(files)["spend a nonce"] == {"a.py", "b.py"}


# An ARN built or matched in code: an f-string or a pattern that starts one.
_ARN_BUILT = re.compile(r"""\bf["']acs:|["']\^acs:|\bf["']\{[^}]*\}:acs:""")


def arns_built(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if _ARN_BUILT.search(line)]


def test_arns_are_built_and_parsed_in_one_domain_module() -> None:
    outside = {
        str(path.relative_to(ROOT)): found
        for path in PACKAGE.rglob("*.py")
        if path != PACKAGE / "domain" / "arn.py" and (found := arns_built(path.read_text()))
    }
    assert outside == {}


def test_the_arn_finder_finds_an_arn_built_in_place() -> None:
    assert arns_built('x = f"acs:ram::{a}:root"\ny = re.compile(r"^acs:ram::(?P<a>.*)")')
    assert arns_built('"""acs:ram::<account>:root, as the vendor writes it"""') == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > LONGEST
    }
    assert long == {}


def test_only_the_store_the_use_cases_and_the_composition_root_open_transactions() -> None:
    """The API handlers, the console and the CLI go through use-cases; they never open a store
    transaction or a connection themselves."""
    allowed = ("keyhouse/store/", "keyhouse/services/", "keyhouse/app.py")
    opening = re.compile(r"\.transaction\(|\.connect\(\)|\.begin\(\)")
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        if not str(path.relative_to(ROOT)).startswith(allowed)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if opening.search(line)
    ]
    assert found == []


def test_the_readme_lists_exactly_the_routed_actions() -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("### What is served", 1)[1].split("\n\n", 2)[1]
    listed: set[tuple[str, str]] = set()
    for row in section.splitlines()[2:]:
        api, actions = (cell.strip() for cell in row.strip("|").split("|"))
        version = api.split()[-1]
        for name in re.findall(r"\b[A-Z][A-Za-z]+\b", re.sub(r"\([^)]*\)", "", actions)):
            listed.add((version, name))
    assert listed == set(route_table())


def test_the_readme_lists_every_setting_by_its_derived_variable() -> None:
    """Each setting's variable is derived from its field (KEYHOUSE_ and the name); the
    README's configuration table names exactly those."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(KEYHOUSE_[A-Z_]+)`", section))
    assert listed == {env_name(f.name) for f in fields(Settings)}
