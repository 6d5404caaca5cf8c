"""Reading a config's YAML text safely, before any key is checked.

The limits keep a hostile or broken file from taking the memory or the stack (size, nesting,
aliases and what they expand to), duplicate keys are refused, YAML 1.2 exponent floats read as
numbers, and ``${VAR}`` / ``${VAR:-default}`` are expanded. ``copytrader.config`` then checks
the keys of the tree this returns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """A bad config. ``str()`` is one line: ``<key path>: <what is wrong>``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


# --- ${VAR} expansion ---------------------------------------------------------------------


class Expanded(str):
    """A string that came out of ``${...}`` expansion: may be read as a number or boolean."""

    __slots__ = ()


_REFERENCE = re.compile(r"\$(\$|\{[^}]*\}|\{)")
_VAR = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)


def _expand_str(text: str, env: Mapping[str, str], path: str) -> str:
    if "$" not in text:
        return text
    expanded = False

    def substitute(m: re.Match[str]) -> str:
        nonlocal expanded
        token = m.group(1)
        if token == "$":
            return "$"
        if token == "{":
            raise ConfigError(path, "unterminated ${ (write $$ for a literal $)")
        ref = _VAR.match(token[1:-1])
        if ref is None:
            raise ConfigError(
                path, f"bad reference {m.group(0)!r}: use ${{VAR}} or ${{VAR:-default}}"
            )
        name, default = ref.group(1), ref.group(2)
        expanded = True
        value = env.get(name)
        if value:  # like the shell's ${VAR:-default}: empty counts as unset
            return value
        if default is not None:
            return default
        if value == "":
            return ""
        raise ConfigError(path, f"environment variable {name} is not set")

    result = _REFERENCE.sub(substitute, text)
    return Expanded(result) if expanded else result


def expand(value: Any, env: Mapping[str, str], path: str) -> Any:
    if isinstance(value, str):
        return _expand_str(value, env, path)
    if isinstance(value, list):
        return [expand(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: expand(v, env, join_path(path, str(k))) for k, v in value.items()}
    return value


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- the YAML reader ---------------------------------------------------------------------


#: Limits on what the YAML reader builds, so a hostile or broken file fails fast instead of
#: taking the memory or the stack. A 500-follower config is ~100 KB, ~10,000 values, 5 deep.
MAX_CONFIG_BYTES = 1_000_000
MAX_YAML_DEPTH = 64
#: ``*alias`` uses: a few (``<<: *defaults``) are handy; nested aliases multiply (a "billion
#: laughs" file expands 9 aliases of 9 into 10^9 values), so their expansion is counted too.
MAX_YAML_ALIASES = 50
MAX_YAML_VALUES = 200_000

#: YAML 1.2 floats that YAML 1.1 (PyYAML) reads as strings: an exponent without a dot or
#: without a sign (``1e308``, ``2.5e3``).
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one), nesting
    deeper than ``MAX_YAML_DEPTH`` and more than ``MAX_YAML_ALIASES`` aliases."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.source = source
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # PyYAML composes recursively: bound the depth before Python's stack does.
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise ConfigError(
                    self._where(event), f"more than {MAX_YAML_ALIASES} aliases (*name)"
                )
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise ConfigError(self._where(event), f"nested deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _where(self, event: yaml.Event) -> str:
        mark = event.start_mark
        return f"{self.source}:{mark.line + 1}:{mark.column + 1}" if mark else self.source


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise ConfigError(f"line {mark.line + 1}", f"duplicate key {key!r}")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _no_duplicates,
)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789.")
)


def _check_expanded(root: yaml.Node, source: str) -> None:
    """Refuse a node graph that would be too large or too deep once every alias is expanded.

    PyYAML builds an aliased node once and shares it, but the checks and ``${VAR}`` expansion
    walk the values as a tree: 9 nested aliases of 9 make 10^9 values, and aliases of deep
    nodes add their depths. A cycle (``&a [*a]``) would never end.
    """
    #: per node: (values, levels) of its expanded tree
    known: dict[int, tuple[int, int]] = {}
    walking: set[int] = set()

    def walk(node: yaml.Node, level: int) -> tuple[int, int]:
        key = id(node)
        if key in walking:
            raise ConfigError(source, "an alias (*name) refers to a value that contains it")
        found = known.get(key)
        if found is None:
            if level > MAX_YAML_DEPTH:
                raise ConfigError(source, f"nested deeper than {MAX_YAML_DEPTH} levels")
            children: list[yaml.Node] = []
            if isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            walking.add(key)
            values, levels = 1, 1
            for child in children:
                child_values, child_levels = walk(child, level + 1)
                values += child_values
                levels = max(levels, 1 + child_levels)
                if values > MAX_YAML_VALUES:
                    raise ConfigError(
                        source, f"expands to more than {MAX_YAML_VALUES} values (nested aliases?)"
                    )
            walking.discard(key)
            found = known[key] = (values, levels)
        if level + found[1] - 1 > MAX_YAML_DEPTH:
            raise ConfigError(source, f"nested deeper than {MAX_YAML_DEPTH} levels")
        return found

    walk(root, 1)


def read_yaml(text: str, source: str) -> Any:
    """The YAML document in ``text`` as Python values, within the limits above."""
    if len(text) > MAX_CONFIG_BYTES or len(text.encode("utf-8")) > MAX_CONFIG_BYTES:
        raise ConfigError(source, f"is larger than {MAX_CONFIG_BYTES} bytes")
    loader = _StrictLoader(text, source)  # a SafeLoader subclass: no arbitrary objects
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded(node, source)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(where, f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def read_text(path: str | Path) -> str:
    """The text of the config file at ``path``: at most ``MAX_CONFIG_BYTES`` of UTF-8."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)  # no further: a huge file must not be read in
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(str(path), f"is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(str(path), "is not UTF-8 text") from None
