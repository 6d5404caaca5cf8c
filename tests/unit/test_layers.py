"""Layers point down: every import between our packages follows an arrow docs/architecture.md
allows.

The allowed arrows are written once, in the doc's block under the ``layers`` marker; this test
reads them from there. It parses every module with ``ast`` and sees every import: at module
level, inside functions, under ``if TYPE_CHECKING:``, in ``try`` blocks, relative imports and
``importlib.import_module("...")`` with a literal name.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
MARKER = "<!-- layers:"
#: a package whose modules may import any of ours
ANY = "(anything)"
NOTHING = "(nothing)"
#: not ours even though they hold Python files
_SKIP_DIRS = {".venv", "venv", "build", "dist", "node_modules", "__pycache__"}


def allowed_arrows(text: str) -> dict[str, frozenset[str] | None]:
    """The doc's arrow block: package -> the packages it may import (``None``: any)."""
    start = text.find(MARKER)
    if start < 0:
        raise ValueError(f"no {MARKER!r} line in the doc")
    block = re.search(r"```[a-z]*\n(.*?)```", text[start:], re.DOTALL)
    if block is None:
        raise ValueError("no fenced block after the layers marker")
    arrows: dict[str, frozenset[str] | None] = {}
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        source, arrow, targets = line.partition("->")
        package = source.strip()
        if not arrow or not package or package in arrows:
            raise ValueError(f"bad or repeated line in the layers block: {line!r}")
        words = targets.split()
        if words == [ANY]:
            arrows[package] = None
        elif words == [NOTHING]:
            arrows[package] = frozenset()
        elif words and not {ANY, NOTHING} & set(words):
            arrows[package] = frozenset(words)
        else:
            raise ValueError(f"bad targets in the layers block: {line!r}")
    return arrows


def imported_modules(
    source: str, module: str, is_package: bool = False
) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, the text of ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:  # relative: up (level - 1) packages from this module's package
                up = package[: len(package) - (node.level - 1)]
                base = ".".join([*up, *([node.module] if node.module else [])])
            yield node.lineno, base
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in ("import_module", "__import__")
                )
            )
        ):
            yield node.lineno, node.args[0].value


def our_packages(root: Path) -> set[str]:
    """The repository's top-level Python modules and the directories with Python files right
    inside them (a virtualenv, whose files lie deeper, is not one)."""
    found = {p.stem for p in root.glob("*.py")}
    for child in root.iterdir():
        hidden = child.name.startswith(".") or child.name in _SKIP_DIRS
        if child.is_dir() and not hidden and any(child.glob("*.py")):
            found.add(child.name)
    return found


def python_files(top: Path) -> Iterator[Path]:
    for path in sorted(top.rglob("*.py")):
        if not _SKIP_DIRS & set(path.relative_to(top).parts):
            yield path


def violations(root: Path, arrows: Mapping[str, frozenset[str] | None]) -> list[str]:
    """Every import of one of our packages that no arrow allows, as ``file:line: text``."""
    ours = set(arrows)
    found = []
    for package, allowed in sorted(arrows.items()):
        if allowed is None:
            continue
        top, single = root / package, root / f"{package}.py"
        files = list(python_files(top)) if top.is_dir() else [single] if single.exists() else []
        for path in files:
            rel = path.relative_to(root)
            is_package = path.name == "__init__.py"
            parts = rel.with_suffix("").parts
            module = ".".join(parts[:-1] if is_package else parts)
            for line, name in imported_modules(path.read_text(), module, is_package):
                target = name.split(".")[0]
                if target in ours and target != package and target not in allowed:
                    found.append(
                        f"{rel}:{line}: imports {name} ({package} -> {target} is not an arrow "
                        f"in docs/architecture.md)"
                    )
    return found


# --- the repository -----------------------------------------------------------------------


def test_no_import_crosses_a_layer_the_doc_does_not_allow():
    arrows = allowed_arrows(DOC.read_text())

    found = violations(ROOT, arrows)

    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_every_package_of_ours_has_its_place_in_the_doc():
    arrows = allowed_arrows(DOC.read_text())

    assert set(arrows) == our_packages(ROOT)
    for targets in arrows.values():
        assert targets is None or targets <= set(arrows), targets


def test_the_doc_keeps_the_house_rules():
    """What the doc may not allow, whatever else changes: nothing below the wiring imports it,
    the wire layer imports none of ours, the simulator only the wire layer, and no cycle."""
    arrows = allowed_arrows(DOC.read_text())

    for package in ("actors", "supervision", "store", "dhan", "dhansim"):
        targets = arrows[package]
        assert targets is not None and "copytrader" not in targets, package
    assert arrows["dhan"] == frozenset()
    assert arrows["dhansim"] == {"dhan"}
    layered = {p: t for p, t in arrows.items() if t is not None}

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            t == goal or (t not in seen and reaches(t, goal, seen | {t}))
            for t in layered.get(start, ())
        )

    assert [p for p in layered if reaches(p, p)] == []


def test_the_engines_metrics_satisfy_the_protocol_the_actors_own():
    from actors.telemetry import ActorMetrics
    from copytrader.metrics import Metrics

    assert isinstance(Metrics(process=False), ActorMetrics)


# --- the checker itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import copytrader.config\n", "actors.x", ["copytrader.config"]),
        ("from copytrader.metrics import Metrics\n", "actors.x", ["copytrader.metrics"]),
        ("def f():\n    from copytrader import engine\n", "actors.x", ["copytrader"]),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from copytrader import cli\n",
            "store.x",
            ["typing", "copytrader"],
        ),
        ("try:\n    import dhansim.app\nexcept ImportError:\n    pass\n", "dhan.x",
         ["dhansim.app"]),
        ("class A:\n    def m(self):\n        import store as s\n", "dhan.x", ["store"]),
        ("from . import codes\n", "dhan.rest", ["dhan"]),
        ("from .errors import Bad\n", "store.migrations.env", ["store.migrations.errors"]),
        ("from .. import records\n", "store.migrations.env", ["store"]),
        ("import importlib\nimportlib.import_module('copytrader.config')\n", "actors.x",
         ["importlib", "copytrader.config"]),
        ("__import__('copytrader')\n", "supervision.x", ["copytrader"]),
        ("x = 'import copytrader'\n", "actors.x", []),
    ],
)  # fmt: skip
def test_every_kind_of_import_is_seen(source: str, module: str, expected: list[str]):
    assert [name for _line, name in imported_modules(source, module)] == expected


def test_a_relative_import_in_a_package_init_starts_at_that_package():
    assert [n for _l, n in imported_modules("from .x import y\n", "store", is_package=True)] == [
        "store.x"
    ]


ARROWS = """
<!-- layers: example -->
```text
top    -> mid low
mid    -> low
low    -> (nothing)
side   -> low
extras -> (anything)
```
"""


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"mid/a.py": "import low.b\n"}, []),
        ({"top/a.py": "from mid import a\nimport low\nimport os\n"}, []),
        ({"extras/a.py": "import top, side\n"}, []),
        (
            {"mid/a.py": "def f():\n    import top.cli\n"},
            ["mid/a.py:2: imports top.cli (mid -> top is not an arrow in docs/architecture.md)"],
        ),
        (
            {"low/x/y.py": "if TYPE_CHECKING:\n    from mid.a import B\n"},
            ["low/x/y.py:2: imports mid.a (low -> mid is not an arrow in docs/architecture.md)"],
        ),
        (
            {"side/a.py": "from . import b\nfrom .b import c\n"},  # relative: its own package
            [],
        ),
        (
            {"side/__init__.py": "from mid import a\n"},
            [
                "side/__init__.py:1: imports mid (side -> mid is not an arrow in "
                "docs/architecture.md)"
            ],
        ),
    ],
)
def test_an_import_against_the_arrows_is_reported(
    tmp_path: Path, files: dict[str, str], expected: list[str]
):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    assert violations(tmp_path, allowed_arrows(ARROWS)) == expected


def test_a_new_top_level_package_needs_a_line_but_a_virtualenv_does_not(tmp_path: Path):
    for name in ("pkg/a.py", "pkg/sub/b.py", "tool.py", ".hidden/x.py", "venv/lib/site.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("")

    assert our_packages(tmp_path) == {"pkg", "tool"}


@pytest.mark.parametrize(
    "block",
    [
        "no marker at all",
        "<!-- layers: x -->\nno block",
        "<!-- layers: x -->\n```\na -> b\na -> c\n```",
        "<!-- layers: x -->\n```\na b\n```",
        "<!-- layers: x -->\n```\na ->\n```",
        "<!-- layers: x -->\n```\na -> b (nothing)\n```",
    ],
)
def test_a_broken_arrow_block_is_an_error_not_an_empty_table(block: str):
    with pytest.raises(ValueError):
        allowed_arrows(block)
