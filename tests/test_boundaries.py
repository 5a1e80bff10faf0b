"""The architecture's boundaries, checked on the source: no service imports another service's
code, and no domain module imports a framework (ARCHITECTURE.md, STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("intake", "council", "book")
FRAMEWORKS = {"flask", "werkzeug", "sqlalchemy", "celery", "kombu", "marshmallow", "redis", "alembic",
              "apispec", "feedgen", "fpdf", "jinja2", "psycopg", "waitress", "gunicorn"}
PURE_SHARED = {"shared.clock", "shared.org", "shared.ids", "shared.text", "shared.refusals"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module in {"shared", "services"} or node.module.startswith("services."):
                # `from shared import clock` imports the module shared.clock
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return names


# What a use case never imports: the web and the queue (STYLE.md, "The shape of one use case"), and
# the project's modules that carry them (the composition root, the HTTP edge, the consumer).
EDGES = {"flask", "werkzeug", "celery", "kombu", "shared.problems", "shared.bodies", "shared.cursors",
         "shared.paths", "shared.runtime", "shared.endpoint", "shared.consumer", "shared.celery_app",
         "shared.web"}
# The use-case modules of each service written as ``fn(uow, ctx, actor, …)``; a service still
# written otherwise is named in NOT_YET_CONVERTED until it converts.
USE_CASES = {"intake": ("services.py", "repository.py", "people.py", "organisation.py", "access.py"),
             "council": ("services.py", "repository.py"),
             "book": ("services.py", "repository.py", "work.py")}
NOT_YET_CONVERTED: tuple[str, ...] = ()
# The read side of each service: queries ``fn(uow, ctx, …)`` over the unit of work their entrypoint
# opened, held to the same rule, and never given the composition root (``Runtime``) instead.
QUERIES = {"intake": ("repository.py",), "council": ("queries.py", "records.py", "page_queries.py"),
           "book": ("queries.py",)}
# What a use case never imports either: SQL. Its statements live in the service's repository (or
# query module), reached through the unit of work it is given, so that a fake one can stand in
# (tests/<service>/fakes.py); the outbox's, inbox's and parked messages' tables are the unit of
# work's, never read by a use case.
PERSISTENCE = {"sqlalchemy", "shared.tables", "shared.columns"}
SQL_FREE = {"intake": ("services.py",), "book": ("services.py",),
            "council": ("services.py", "closing.py", "referral.py", "reorganisation.py", "revocation.py")}


def edge_imports(root: Path, service: str, modules: tuple[str, ...]) -> list[tuple[str, str]]:
    bad = []
    for module in modules:
        path = root / "services" / service / module
        for name in imports_of(path):
            if any(name == edge or name.startswith(edge + ".") for edge in EDGES):
                bad.append((str(path.relative_to(root)), name))
    return bad


def runtime_parameters(root: Path, service: str, modules: tuple[str, ...]) -> list[tuple[str, str]]:
    """The functions of ``modules`` given the runtime: a parameter named ``runtime`` or annotated
    with ``Runtime`` (a use case or a query is given a unit of work and a context)."""
    bad = []
    for module in modules:
        path = root / "services" / service / module
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            arguments = node.args
            for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
                if arg.arg == "runtime" or "Runtime" in annotation:
                    bad.append((str(path.relative_to(root)), f"{node.name}({arg.arg})"))
    return bad


def sql_imports(root: Path, service: str, modules: tuple[str, ...]) -> list[tuple[str, str]]:
    """The imports of SQL in ``modules``: SQLAlchemy, shared's tables, the service's own ``orm``."""
    tables = {*PERSISTENCE, f"services.{service}.orm"}
    bad = []
    for module in modules:
        path = root / "services" / service / module
        for name in imports_of(path):
            if any(name == t or name.startswith(t + ".") for t in tables):
                bad.append((str(path.relative_to(root)), name))
    return bad


def shared_import_graph(root: Path, local: bool) -> dict[str, set[str]]:
    """Which of shared's modules each of them imports: at module level, or (``local``) anywhere,
    a function's deferred import included; never what is imported for types only."""
    graph: dict[str, set[str]] = {}
    for path in python_files(root / "shared"):
        module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        typing_only = {id(n) for node in tree.body if isinstance(node, ast.If)
                       and getattr(node.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(node)}
        nodes = ast.walk(tree) if local else (n for top in tree.body for n in ast.walk(top)
                                              if not isinstance(top, ast.FunctionDef | ast.ClassDef))
        names: set[str] = set()
        for node in nodes:
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[module] = names
    return {m: {n for n in names if n in graph and n != m} for m, names in graph.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        path.append(module)
        for other in sorted(graph[module]):
            if state.get(other) == 1:
                cycles.append([*path[path.index(other):], other])
            elif other not in state:
                visit(other, path)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    return cycles


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def cross_service_imports(root: Path, service: str) -> list[tuple[str, str]]:
    others = {f"services.{s}" for s in SERVICES if s != service}
    return [(str(p.relative_to(root)), name) for p in python_files(root / "services" / service)
            for name in imports_of(p) if any(name == o or name.startswith(o + ".") for o in others)]


def impure_domain_imports(root: Path, service: str) -> list[tuple[str, str]]:
    bad = []
    for p in python_files(root / "services" / service / "domain"):
        for name in imports_of(p):
            top = name.split(".")[0]
            if top in FRAMEWORKS or (top == "shared" and name not in PURE_SHARED) or (
                top == "services" and not name.startswith(f"services.{service}.domain")
            ):
                bad.append((str(p.relative_to(root)), name))
    return bad


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service: str) -> None:
    assert python_files(ROOT / "services" / service), f"services/{service} has no code"
    assert not cross_service_imports(ROOT, service)


@pytest.mark.parametrize("service", SERVICES)
def test_domain_imports_no_framework(service: str) -> None:
    assert not impure_domain_imports(ROOT, service)


def test_pure_shared_modules_import_only_the_standard_library() -> None:
    for module in PURE_SHARED:
        path = ROOT / (module.replace(".", "/") + ".py")
        tops = {n.split(".")[0] for n in imports_of(path)}
        assert not tops & (FRAMEWORKS | {"services"}), f"{module} imports {tops & FRAMEWORKS}"
        assert not {n for n in imports_of(path) if n.startswith("shared.") and n not in PURE_SHARED}


def test_the_checkers_catch_violations(tmp_path: Path) -> None:
    domain = tmp_path / "services" / "intake" / "domain"
    domain.mkdir(parents=True)
    (domain / "rules.py").write_text(
        "import flask\nfrom shared import clock\nfrom shared import db\nfrom services.book.domain import chain\n",
        "utf-8",
    )
    assert cross_service_imports(tmp_path, "intake") == [
        ("services/intake/domain/rules.py", "services.book.domain.chain")
    ]
    assert sorted(n for _, n in impure_domain_imports(tmp_path, "intake")) == [
        "flask", "services.book.domain.chain", "shared.db"
    ]


def test_shared_modules_import_each_other_without_a_cycle() -> None:
    """Not even through an import inside a function, which would only hide the cycle."""
    assert not import_cycles(shared_import_graph(ROOT, local=False))
    assert not import_cycles(shared_import_graph(ROOT, local=True))


def test_the_cycle_checker_finds_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "a.py").write_text("from shared.b import x\n", "utf-8")
    (tmp_path / "shared" / "b.py").write_text("def f():\n    from shared import a\n", "utf-8")
    (tmp_path / "shared" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from shared import a\n", "utf-8")
    assert import_cycles(shared_import_graph(tmp_path, local=False)) == []
    assert import_cycles(shared_import_graph(tmp_path, local=True)) == [["shared.a", "shared.b", "shared.a"]]


@pytest.mark.parametrize("service", sorted(USE_CASES))
def test_use_cases_import_no_web_and_no_queue(service: str) -> None:
    assert not edge_imports(ROOT, service, USE_CASES[service])


# What no use case reaches even through the project's own modules: importing it loads no web
# framework and no queue.
WEB_AND_QUEUE = {"flask", "werkzeug", "celery", "kombu"}


def module_file(root: Path, name: str) -> Path | None:
    for candidate in (root / (name.replace(".", "/") + ".py"), root / name.replace(".", "/") / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def loaded_on_import(root: Path, path: Path) -> dict[str, list[str]]:
    """The outside packages importing ``path`` loads, each with the chain of project modules
    that leads to it (the importing module first): module-level imports followed through the
    project's modules (and their packages), not those inside functions or for types only."""
    first = ".".join(path.relative_to(root).with_suffix("").parts)
    came_from: dict[str, str | None] = {first: None}
    queue = [first]
    outside: dict[str, list[str]] = {}

    def chain(module: str) -> list[str]:
        out = [module]
        while came_from[out[-1]] is not None:
            out.append(came_from[out[-1]])  # type: ignore[arg-type]
        return out

    while queue:
        module = queue.pop(0)
        parts = module.split(".")
        found = [".".join(parts[:i]) for i in range(1, len(parts))]
        source = module_file(root, module)
        if source is not None:
            tree = ast.parse(source.read_text("utf-8"), filename=str(source))
            typing_only = {id(n) for node in tree.body if isinstance(node, ast.If)
                           and getattr(node.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(node)}
            for top in tree.body:
                if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    continue
                for node in ast.walk(top):
                    if id(node) in typing_only:
                        continue
                    if isinstance(node, ast.Import):
                        found.extend(alias.name for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        found.extend([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
        for name in found:
            if name.split(".")[0] not in {"shared", "services", "sovang"}:
                outside.setdefault(name.split(".")[0], chain(module))
            elif name not in came_from and module_file(root, name) is not None:
                came_from[name] = module
                queue.append(name)
    return outside


def reached_edges(root: Path, service: str, module: str) -> dict[str, list[str]]:
    loaded = loaded_on_import(root, root / "services" / service / module)
    return {name: via for name, via in loaded.items() if name in WEB_AND_QUEUE}


@pytest.mark.parametrize("service", sorted(USE_CASES))
def test_use_cases_reach_no_web_and_no_queue_through_other_modules(service: str) -> None:
    reach_no_web_and_no_queue(service, USE_CASES[service])


@pytest.mark.parametrize("service", sorted(QUERIES))
def test_queries_reach_no_web_and_no_queue_through_other_modules(service: str) -> None:
    reach_no_web_and_no_queue(service, QUERIES[service])


def reach_no_web_and_no_queue(service: str, modules: tuple[str, ...]) -> None:
    for module in modules:
        reached = reached_edges(ROOT, service, module)
        assert not reached, f"services/{service}/{module} loads {reached} (through the modules named)"


def test_the_reach_checker_follows_imports_through_the_project(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "__init__.py").write_text("", "utf-8")
    (tmp_path / "shared" / "pages.py").write_text("import flask\n", "utf-8")
    (tmp_path / "shared" / "rules.py").write_text("from shared import pages\n", "utf-8")
    (tmp_path / "shared" / "lazy.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import celery\ndef f():\n    import kombu\n", "utf-8")
    folder = tmp_path / "services" / "intake"
    folder.mkdir(parents=True)
    (folder / "services.py").write_text("from shared.rules import x\nfrom shared import lazy\n", "utf-8")
    assert reached_edges(tmp_path, "intake", "services.py") == {
        "flask": ["shared.pages", "shared.rules", "services.intake.services"]}


@pytest.mark.parametrize("service", sorted(QUERIES))
def test_queries_import_no_web_and_no_queue_and_are_never_given_the_runtime(service: str) -> None:
    assert not edge_imports(ROOT, service, QUERIES[service])
    assert not runtime_parameters(ROOT, service, QUERIES[service])


def test_every_service_is_converted_or_named_as_not_yet() -> None:
    assert sorted([*USE_CASES, *NOT_YET_CONVERTED]) == sorted(SERVICES)
    assert not set(USE_CASES) & set(NOT_YET_CONVERTED)
    for service in NOT_YET_CONVERTED:
        # Still true of each: when it no longer is, it moves to USE_CASES.
        assert edge_imports(ROOT, service, ("services.py",)), f"{service} converted: move it to USE_CASES"


def test_the_use_case_checker_catches_an_edge_import(tmp_path: Path) -> None:
    folder = tmp_path / "services" / "intake"
    folder.mkdir(parents=True)
    (folder / "services.py").write_text(
        "from flask import g\nfrom shared.problems import Problem\nfrom shared import runtime\nfrom shared import audit\n",
        "utf-8")
    assert sorted(n for _, n in edge_imports(tmp_path, "intake", ("services.py",))) == [
        "flask", "shared.problems", "shared.runtime"]


def test_the_query_checker_catches_a_query_given_the_runtime(tmp_path: Path) -> None:
    folder = tmp_path / "services" / "book"
    folder.mkdir(parents=True)
    (folder / "queries.py").write_text(
        "from shared.runtime import Runtime\n"
        "def get_book(runtime, code): ...\n"
        "def artifact(process: Runtime, path): ...\n"
        "def list_books(uow, ctx, after, limit): ...\n", "utf-8")
    assert edge_imports(tmp_path, "book", ("queries.py",)) == [("services/book/queries.py", "shared.runtime")]
    assert runtime_parameters(tmp_path, "book", ("queries.py",)) == [
        ("services/book/queries.py", "get_book(runtime)"), ("services/book/queries.py", "artifact(process)")]


@pytest.mark.parametrize("module", USE_CASES["intake"])
def test_each_use_case_module_of_intake_is_held_to_no_web_and_no_queue(tmp_path: Path, module: str) -> None:
    """people.py, organisation.py and access.py as much as services.py: a web, queue or runtime
    import in any of them fails."""
    folder = tmp_path / "services" / "intake"
    folder.mkdir(parents=True)
    for other in USE_CASES["intake"]:
        (folder / other).write_text("from shared import audit\n", "utf-8")
    (folder / module).write_text(
        "import flask\nfrom celery import shared_task\nfrom shared.runtime import Runtime\nfrom shared.problems import x\n",
        "utf-8")
    found = edge_imports(tmp_path, "intake", USE_CASES["intake"])
    assert sorted(found) == [(f"services/intake/{module}", n) for n in ("celery", "flask", "shared.problems", "shared.runtime")]


def test_intakes_use_cases_are_never_given_the_runtime() -> None:
    """Its people, tokens and organisation loads included: a use case gets a unit of work and a
    context, never the composition root."""
    assert not runtime_parameters(ROOT, "intake", USE_CASES["intake"])


@pytest.mark.parametrize("service", sorted(SQL_FREE))
def test_use_cases_run_no_sql_of_their_own(service: str) -> None:
    assert not sql_imports(ROOT, service, SQL_FREE[service])


def test_the_sql_checker_catches_tables_in_a_use_case(tmp_path: Path) -> None:
    folder = tmp_path / "services" / "council"
    folder.mkdir(parents=True)
    (folder / "services.py").write_text(
        "import sqlalchemy as sa\nfrom sqlalchemy.exc import IntegrityError\nfrom shared.tables import outbox\n"
        "from shared import tables\nfrom services.council.orm import rounds\nfrom services.council import orm\n"
        "from services.council.repository import Taken\nfrom shared import audit\n", "utf-8")
    assert sorted(n for _, n in sql_imports(tmp_path, "council", ("services.py",))) == [
        "services.council.orm", "services.council.orm.rounds", "shared.tables", "sqlalchemy", "sqlalchemy.exc"]
