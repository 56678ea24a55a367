"""Event kinds, checked on the source: the dashboard reads only kinds that some step writes.

A kind nobody writes any more would show on the dashboard as a quiet zero, so the writers and
the readers are compared statically, with `ast`, instead of through a database.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The product's packages; the benchmarks and the tests insert made-up kinds of their own.
PACKAGES = ("domain", "tasks", "flows", "inbox", "notify", "rules", "launch", "dashboard")
# The dashboard's package: the kinds its modules read must be written outside it.
METRICS = ROOT / "domain" / "metrics"


def sources() -> dict[Path, ast.Module]:
    """Return every module of the product, parsed."""
    paths = sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))
    return {path: ast.parse(path.read_text(), filename=str(path)) for path in paths}


def members_named(node: ast.AST) -> set[str]:
    """Return the `EventKind` members that `node` names."""
    return {
        n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Name)
        and n.value.id == "EventKind"
    }


def is_event_kind(name: str | None, annotation: ast.expr | None) -> bool:
    """Tell whether a parameter or field is `kind: EventKind`."""
    return name == "kind" and isinstance(annotation, ast.Name) and annotation.id == "EventKind"


def writers(modules: dict[Path, ast.Module]) -> dict[str, int | None]:
    """Return what takes `kind: EventKind` (`record_event`, `NewEvent`, helpers passing one on).

    Each maps to the kind's index among its positional arguments, None if keyword-only.
    """
    found: dict[str, int | None] = {}
    for tree in modules.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                positional = [*node.args.posonlyargs, *node.args.args]
                for arg in [*positional, *node.args.kwonlyargs]:
                    if is_event_kind(arg.arg, arg.annotation):
                        found[node.name] = positional.index(arg) if arg in positional else None
            elif isinstance(node, ast.ClassDef):  # a dataclass: its fields are its arguments
                fields = [s for s in node.body if isinstance(s, ast.AnnAssign)]
                for index, field in enumerate(fields):
                    if is_event_kind(getattr(field.target, "id", None), field.annotation):
                        found[node.name] = index
    return found


def kinds_passed(modules: dict[Path, ast.Module]) -> Iterator[tuple[Path, ast.expr]]:
    """Yield each expression passed as the kind to a writer, with the module that passes it."""
    takes = writers(modules)
    assert {"record_event", "NewEvent"} <= takes.keys()
    for path, tree in modules.items():
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
            if name not in takes:
                continue
            yield from ((path, k.value) for k in call.keywords if k.arg == "kind")
            position = takes[name]
            if position is not None and position < len(call.args):
                yield path, call.args[position]


def constants(tree: ast.Module) -> dict[str, ast.expr]:
    """Return a module's top-level assignments by name, such as a table of kinds."""
    return {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def test_every_kind_the_dashboard_reads_is_written_somewhere() -> None:
    modules = sources()
    dashboard = {path: tree for path, tree in modules.items() if path.is_relative_to(METRICS)}
    read = set().union(*map(members_named, dashboard.values()))
    written: set[str] = set()
    for path, kind in kinds_passed(modules):
        if path in dashboard:
            continue
        written |= members_named(kind)
        # A kind looked up in a table, like a plan decision's event by its outcome.
        table = constants(modules[path])
        for name in ast.walk(kind):
            if isinstance(name, ast.Name) and name.id in table:
                written |= members_named(table[name.id])

    assert read, "domain/metrics/ reads no EventKind member: has it stopped using the enum?"
    assert read - written == set(), "read by the dashboard but never written"


def test_no_writer_passes_a_kind_as_a_plain_string() -> None:
    plain = [
        f"{path.relative_to(ROOT)}:{kind.lineno}: {ast.unparse(kind)}"
        for path, kind in kinds_passed(sources())
        if any(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in ast.walk(kind))
    ]

    assert plain == [], "use an EventKind member"
