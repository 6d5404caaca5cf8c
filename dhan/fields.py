"""Wire fields written once: each record's dataclass fields name their wire keys.

A record of ``dhan.models`` declares each field with :func:`wire` (its wire key, aliases and
how to read it); :func:`wire_record` then builds the record's ``from_wire`` (and, for a request,
its ``to_wire``) once, at import, as ``dataclasses`` builds ``__init__``: the function text is
generated from the fields and compiled, so a call runs the same straight-line code a hand-written
reader would, with no per-call loop over the field table.

What a field's type says, when ``read`` does not override it:

- ``str`` / ``int`` / ``float`` / ``bool``: ``text`` / ``integer`` / ``number`` / ``flag``; a
  default makes a missing value that default, ``X | None`` makes it ``None`` (``opt_*``); with
  neither, a missing value is a ``BadResponse`` naming the key.
- a ``StrEnum``: ``enum`` (``opt_enum`` when ``| None``); ``lenient=True``: an unknown value is
  ``None``, never a bad response (for a key Dhan does not document).
- ``tuple[R, ...]`` of a record ``R`` with ``from_wire``: the list under the key, item by item.

Requests write ``to_wire`` the other way: enums as their ``.value``, a required ``float`` through
``float()``, ``None`` values left out.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, Self, TypeVar, dataclass_transform

from dhan.codes import LegName
from dhan.errors import BadResponse

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


# --- reading wire values ------------------------------------------------------------------


def to_float(value: Any) -> float | None:
    """A JSON number or numeric string as float; ``None`` for null, ``""`` and ``"NA"``.

    Raises ``ValueError`` for anything else (including booleans and NaN/infinity).
    """
    if value is None or isinstance(value, bool):
        if value is None:
            return None
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        try:
            result = float(value)
        except OverflowError:  # an int beyond float range: JSON allows any length
            raise ValueError(f"expected a finite number, got {len(str(value))} digits") from None
    elif isinstance(value, str):
        text = value.strip()
        if text == "" or text.upper() == "NA":
            return None
        result = float(text)
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(result):
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


def to_int(value: Any) -> int | None:
    """A JSON integer (or integral float / numeric string) as int; ``None`` for null/empty."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # exact: a round trip through float would lose digits beyond 2**53
    as_float = to_float(value)
    if as_float is None:
        return None
    if not as_float.is_integer():
        raise ValueError(f"expected an integer, got {value!r}")
    return int(as_float)


def to_str(value: Any) -> str | None:
    """A JSON string (numbers are rendered without a fractional ``.0``); ``None`` for null/""."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a string, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value if value.strip() else None
    raise ValueError(f"expected a string, got {type(value).__name__}")


def to_bool(value: Any) -> bool | None:
    """A JSON boolean; also ``"true"``/``"false"``/``"1"``/``"0"``/``"Y"``/``"N"``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "y", "yes"):
            return True
        if text in ("false", "0", "n", "no"):
            return False
        if text == "":
            return None
    raise ValueError(f"expected a boolean, got {value!r}")


def to_enum(enum: type[E], value: Any) -> E | None:
    """``value`` as a member of ``enum`` (case-insensitive); ``None`` for null/""."""
    text = to_str(value)
    if text is None:
        return None
    try:
        return enum(text.strip().upper())
    except ValueError:
        raise ValueError(f"unknown {enum.__name__} {text!r}") from None


class WireReader:
    """Reads one wire object; every failure becomes a ``BadResponse`` naming the field."""

    __slots__ = ("_d", "_endpoint", "_where")

    def __init__(self, d: Any, *, endpoint: str | None, where: str) -> None:
        if not isinstance(d, Mapping):
            raise BadResponse(
                f"{where or 'body'}: expected a JSON object, got {type(d).__name__}",
                endpoint=endpoint,
            )
        self._d = d
        self._endpoint = endpoint
        self._where = where

    def _name(self, key: str) -> str:
        return f"{self._where}.{key}" if self._where else key

    def _fail(self, key: str, why: str) -> BadResponse:
        return BadResponse(f"{self._name(key)}: {why}", endpoint=self._endpoint)

    def raw(self, *keys: str) -> Any:
        """The first of ``keys`` present with a non-null value (aliases, misspellings)."""
        for key in keys:
            value = self._d.get(key)
            if value is not None:
                return value
        return None

    def _convert(self, keys: tuple[str, ...], fn: Any, required: bool) -> Any:
        value = self.raw(*keys)
        try:
            result = fn(value)
        except ValueError as exc:
            raise self._fail(keys[0], str(exc)) from None
        if result is None and required:
            raise self._fail(keys[0], "missing")
        return result

    def text(self, *keys: str) -> str:
        result: str = self._convert(keys, to_str, True)
        return result

    def opt_text(self, *keys: str) -> str | None:
        result: str | None = self._convert(keys, to_str, False)
        return result

    def integer(self, *keys: str, default: int | None = None) -> int:
        result: int | None = self._convert(keys, to_int, default is None)
        if result is None:
            assert default is not None  # _convert raised "missing" when there is no default
            return default
        return result

    def opt_integer(self, *keys: str) -> int | None:
        result: int | None = self._convert(keys, to_int, False)
        return result

    def number(self, *keys: str, default: float | None = None) -> float:
        result: float | None = self._convert(keys, to_float, default is None)
        if result is None:
            assert default is not None  # _convert raised "missing" when there is no default
            return default
        return result

    def opt_number(self, *keys: str) -> float | None:
        result: float | None = self._convert(keys, to_float, False)
        return result

    def flag(self, *keys: str, default: bool = False) -> bool:
        result: bool | None = self._convert(keys, to_bool, False)
        return default if result is None else result

    def enum(self, enum: type[E], *keys: str) -> E:
        result: E = self._convert(keys, lambda v: to_enum(enum, v), True)
        return result

    def opt_enum(self, enum: type[E], *keys: str) -> E | None:
        result: E | None = self._convert(keys, lambda v: to_enum(enum, v), False)
        return result

    def lenient_enum(self, enum: type[E], *keys: str) -> E | None:
        """An undocumented key: a value we do not know is ``None``, never a bad response."""
        try:
            return to_enum(enum, self.raw(*keys))
        except ValueError:
            return None

    def opt_leg(self, *keys: str) -> LegName | None:
        """A leg name; ``""``/``"NA"`` (no leg) become ``None``."""
        leg = self.opt_enum(LegName, *keys)
        return None if leg is LegName.NA else leg

    def items(self, key: str) -> list[Any]:
        value = self._d.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(key, f"expected a list, got {type(value).__name__}")
        return value

    def records(self, record: Any, key: str) -> tuple[Any, ...]:
        """The list under ``key``, each item read by ``record.from_wire`` (named ``key[i]``)."""
        prefix = self._name(key)
        return tuple(
            record.from_wire(item, self._endpoint, f"{prefix}[{i}]")
            for i, item in enumerate(self.items(key))
        )


# --- declaring fields ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WireField:
    """How one dataclass field meets the wire (held in the field's metadata)."""

    keys: tuple[str, ...]  #: the wire key, then any aliases read when it is absent
    read: str | None = None  #: a ``WireReader`` method instead of the one the type implies
    lenient: bool = False  #: an unknown enum value reads as ``None``
    #: when the key is absent: this expression over the fields read before it
    if_missing: str | None = None
    #: read before the other fields (they are read in order, and the first bad one is reported)
    first: bool = False


_WIRE = "wire"


def wire(
    key: str,
    *aliases: str,
    default: Any = MISSING,
    read: str | None = None,
    lenient: bool = False,
    if_missing: str | None = None,
    first: bool = False,
) -> Any:
    """A dataclass field read from (or written to) wire ``key``; see the module's docstring."""
    spec = WireField(
        (key, *aliases), read=read, lenient=lenient, if_missing=if_missing, first=first
    )
    return dataclasses.field(default=default, metadata={_WIRE: spec})


def wire_fields(record: type) -> list[tuple[dataclasses.Field[Any], WireField]]:
    """The fields of ``record`` declared with :func:`wire`, in order."""
    return [(f, f.metadata[_WIRE]) for f in dataclasses.fields(record) if _WIRE in f.metadata]


def _optional(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(hint, False)``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
    return hint, False


_SCALAR_READS = {str: "text", int: "integer", float: "number", bool: "flag"}


def _read_expr(f: dataclasses.Field[Any], spec: WireField, hint: Any, env: dict[str, Any]) -> str:
    """The expression that reads field ``f`` from the ``WireReader`` named ``r``."""
    keys = ", ".join(repr(k) for k in spec.keys)
    if spec.read is not None:
        return f"r.{spec.read}({keys})"
    base, optional = _optional(hint)
    if typing.get_origin(base) is tuple:
        item = typing.get_args(base)[0]
        env[f"_t_{f.name}"] = item
        return f"r.records(_t_{f.name}, {keys})"
    if isinstance(base, type) and issubclass(base, Enum):
        env[f"_t_{f.name}"] = base
        method = "lenient_enum" if spec.lenient else ("opt_enum" if optional else "enum")
        return f"r.{method}(_t_{f.name}, {keys})"
    scalar = _SCALAR_READS.get(base)
    if scalar is None:
        raise TypeError(f"{f.name}: no wire reader for {hint!r}")
    if scalar == "flag":
        default = False if f.default is MISSING else f.default
        return f"r.flag({keys}, default={default!r})"
    if optional:
        return f"r.opt_{scalar}({keys})"
    if f.default is MISSING:
        return f"r.{scalar}({keys})"
    if scalar == "text":
        raise TypeError(f"{f.name}: a text field is required or ``str | None``, not defaulted")
    return f"r.{scalar}({keys}, default={f.default!r})"


def _compile(name: str, lines: list[str], env: dict[str, Any]) -> Callable[..., Any]:
    """Compile ``lines`` (one ``def``) in ``env`` and return the function."""
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), env, namespace)  # our own generated text, once at import
    fn: Callable[..., Any] = namespace[name]
    return fn


def _from_wire(record: type) -> Callable[..., Any]:
    hints = typing.get_type_hints(record)
    env: dict[str, Any] = {"WireReader": WireReader}
    lines = [
        "def from_wire(cls, d, endpoint=None, where=''):",
        "    r = WireReader(d, endpoint=endpoint, where=where)",
    ]
    declared = wire_fields(record)
    for f, spec in sorted(declared, key=lambda pair: not pair[1].first):  # stable
        lines.append(f"    {f.name} = {_read_expr(f, spec, hints[f.name], env)}")
        if spec.if_missing is not None:
            lines.append(f"    if {f.name} is None:")
            lines.append(f"        {f.name} = {spec.if_missing}")
    names = [f.name for f, _ in declared]
    if len(names) != len(dataclasses.fields(record)):
        raise TypeError(f"{record.__name__}: every field of a wire record needs wire()")
    lines.append(f"    return cls({', '.join(names)})")
    return _compile("from_wire", lines, env)


def _write_expr(f: dataclasses.Field[Any], hint: Any) -> str:
    base, optional = _optional(hint)
    value = f"self.{f.name}"
    if isinstance(base, type) and issubclass(base, Enum):
        return f"None if {value} is None else {value}.value" if optional else f"{value}.value"
    if base is float and not optional:
        return f"float({value})"
    return value


def _to_wire(record: type) -> Callable[..., Any]:
    hints = typing.get_type_hints(record)
    lines = ["def to_wire(self):", "    body = {"]
    for f, spec in wire_fields(record):
        lines.append(f"        {spec.keys[0]!r}: {_write_expr(f, hints[f.name])},")
    lines.append("    }")
    lines.append("    return {k: v for k, v in body.items() if v is not None}")
    return _compile("to_wire", lines, {})


class WireRecord:
    """Base of a response record: ``from_wire`` is generated by :func:`wire_record`."""

    __slots__ = ()

    if TYPE_CHECKING:

        @classmethod
        def from_wire(cls, d: Any, endpoint: str | None = None, where: str = "") -> Self: ...


class WireRequest:
    """Base of a request record: ``to_wire`` is generated by :func:`wire_request`."""

    __slots__ = ()

    if TYPE_CHECKING:

        def to_wire(self) -> dict[str, Any]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(wire,))
def wire_record(record: type[T]) -> type[T]:
    """A frozen, slotted dataclass of a response (every field declared with :func:`wire`),
    with its ``from_wire`` (subclass :class:`WireRecord` for the type checker).

    ``from_wire(d, endpoint=None, where="")`` reads a JSON object: unknown keys are ignored,
    and a missing or unparseable required field is a ``BadResponse`` naming the field
    (``where`` prefixes the name: ``legDetails[1].price``).
    """
    record = dataclass(frozen=True, slots=True)(record)
    fn = _from_wire(record)
    fn.__qualname__ = f"{record.__qualname__}.from_wire"
    setattr(record, "from_wire", classmethod(fn))  # noqa: B010 - set after the class is made
    return record


@dataclass_transform(frozen_default=True, field_specifiers=(wire,))
def wire_request(record: type[T]) -> type[T]:
    """A frozen, slotted dataclass of a request, with its ``to_wire()``: the body, the fields
    declared with :func:`wire` in order, ``None`` values left out (subclass
    :class:`WireRequest` for the type checker)."""
    record = dataclass(frozen=True, slots=True)(record)
    fn = _to_wire(record)
    fn.__qualname__ = f"{record.__qualname__}.to_wire"
    setattr(record, "to_wire", fn)  # noqa: B010 - set after the class is made
    return record
