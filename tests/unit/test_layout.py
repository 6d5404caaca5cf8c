"""The project's top level is the real structure: packages, packaging, CLI help and CI.

These pin the foundation's promises (issue 3): every top-level package is installed by
``pip install -e .``, ``python -m copytrader --help`` lists the subcommands and exits 0,
ruff and mypy are configured in ``pyproject.toml``, and ``.ci/run`` runs exactly the test
command the README gives a new user.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("copytrader", "dhan", "dhansim", "actors", "supervision", "store", "bench")
SUBCOMMANDS = ("run", "demo", "sim", "check-config", "status", "reconcile")


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def requirement_names(specs: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower() for spec in specs}


def test_the_top_level_holds_the_design_cards_files_and_folders():
    for name in ("pyproject.toml", "config.yaml", "README.md", "tests", *PACKAGES):
        assert (REPO / name).exists(), name


@pytest.mark.parametrize("package", PACKAGES)
def test_each_top_level_package_is_installed_from_this_checkout(package: str):
    module = importlib.import_module(package)

    assert module.__file__ is not None
    assert Path(module.__file__).resolve() == REPO / package / "__init__.py"
    includes = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    assert f"{package}*" in includes


def test_the_runtime_and_test_dependencies_are_declared():
    project = pyproject()["project"]

    assert project["requires-python"] == ">=3.11"
    runtime = requirement_names(project["dependencies"])
    assert {
        "pykka",
        "websocket-client",
        "requests",  # the simulator's admin client (dhansim.admin)
        "urllib3",  # dhan.rest's proxy path (the direct path is http.client: dhan/transport.py)
        "sqlalchemy",
        "prometheus-client",
        "pyyaml",
        "aiohttp",
        "pyotp",  # TOTP codes for PIN + TOTP token logins (copytrader, dhansim)
    } <= runtime
    test = requirement_names(project["optional-dependencies"]["test"])
    assert {"pytest", "hypothesis", "dhanhq", "ruff", "mypy"} <= test
    assert "dhanhq" not in runtime  # the SDK is the independent client for tests only


def test_ruff_and_mypy_are_configured_and_mypy_checks_every_package():
    tool = pyproject()["tool"]

    assert tool["ruff"]["target-version"] == "py311"
    assert tool["ruff"]["lint"]["select"]
    assert set(tool["mypy"]["packages"]) == set(PACKAGES)


def test_help_lists_every_subcommand_and_exits_0():
    done = subprocess.run(
        [sys.executable, "-m", "copytrader", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )

    assert done.returncode == 0, done.stderr
    for command in SUBCOMMANDS:
        assert re.search(rf"^\s+{re.escape(command)}\s", done.stdout, re.MULTILINE), command


def readme_test_command() -> str:
    """The command in the README's quick start that runs the tests."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", readme, re.DOTALL)
    assert block is not None, "README has no quick-start code block"
    commands = [
        line.strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    tests = [c for c in commands if "pytest" in c]
    assert len(commands) == 2 and len(tests) == 1, commands
    return tests[0]


def test_ci_lints_type_checks_and_runs_exactly_the_readmes_test_command():
    script = (REPO / ".ci" / "run").read_text()
    lines = [line.strip() for line in script.splitlines()]

    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines  # any failure ends the run non-zero
    assert "python3 -m venv .venv" in lines
    assert "python -m pip install --quiet -e '.[test]'" in lines
    assert {"ruff check .", "ruff format --check .", "mypy"} <= set(lines)
    commands = [line for line in lines if line and not line.startswith(("#", "echo"))]
    assert commands[-1] == readme_test_command()
    assert (REPO / ".ci" / "run").stat().st_mode & 0o111, ".ci/run must be executable"


def git_ignores(path: str) -> bool | None:
    """Whether this checkout's git ignores ``path`` (None: not a git checkout, or no git)."""
    try:
        done = subprocess.run(
            ["git", "check-ignore", "--quiet", "--no-index", path],
            capture_output=True,
            timeout=30,
            cwd=REPO,
        )
    except FileNotFoundError:
        return None
    if done.returncode == 128:  # not a work tree
        return None
    return done.returncode == 0


def test_running_the_engine_from_a_checkout_leaves_no_untracked_file():
    """``python -m copytrader run`` with the shipped config.yaml writes its journal (SQLite,
    with its WAL files and its lease's lock file) and its audit trail into the working
    directory: git ignores them."""
    import yaml

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    journal = cfg["store"]["url"].removeprefix("sqlite:///")
    written = [journal, f"{journal}-wal", f"{journal}-shm", f"{journal}.lock"]
    written.append(cfg["engine"]["audit_path"])
    assert not any(Path(p).is_absolute() for p in written), written

    ignored = {p: git_ignores(p) for p in written}
    if None in ignored.values():
        pytest.skip("not a git checkout")
    assert all(ignored.values()), ignored


def imported_names(tree: Any) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def patches_in(source: str) -> list[str]:
    """``setattr(...)`` calls and assignments to an attribute of an imported module or class
    (``pykka.ActorRef.tell = ...``): monkeypatching, in ``source``."""
    import ast

    tree = ast.parse(source)
    imported = imported_names(tree)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("setattr", "delattr")
        ):
            found.append(f"line {node.lineno}: {node.func.id}()")
        targets: list[Any] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            root = target
            while isinstance(root, ast.Attribute):
                root = root.value
            if target is not root and isinstance(root, ast.Name) and root.id in imported:
                found.append(f"line {node.lineno}: {ast.unparse(target)} = ...")
    return found


@pytest.mark.parametrize(
    ("source", "patched"),
    [
        ("import pykka\npykka.ActorRef.tell = lambda *a: None", True),
        ("from store import Journal\nJournal.transition = None", True),
        ("from supervision.actor import SupervisedActor\nsetattr(SupervisedActor, 'x', 1)", True),
        ("def attach(engine):\n    engine.journal.instrument = 1", False),
        ("class R:\n    def __init__(self):\n        self.active = False", False),
    ],
)
def test_the_monkeypatch_finder_finds_patches_and_only_patches(source: str, patched: bool):
    assert bool(patches_in(source)) is patched


def test_the_profile_package_patches_nothing_it_uses_the_instruments():
    files = sorted((REPO / "bench" / "profile").glob("*.py"))
    assert {f.name for f in files} >= {"__main__.py", "recorder.py", "timeline.py"}
    assert not (REPO / "bench" / "profile_hot_path.py").exists()

    found = {f.name: patches_in(f.read_text()) for f in files}
    assert not any(found.values()), found
