"""The configuration: ``config.yaml`` read once at start into frozen, validated objects.

``load_config`` reads the YAML within limits and expands ``${VAR}`` / ``${VAR:-default}``
(``copytrader.config_yaml``), checks every key and raises ``ConfigError`` whose text names the
key path (``followers[1].sizing.multiplier: must be > 0``); the CLI prints that line and exits 2.
Access tokens are ``Secret``s, so no repr, log line or error can show them. Every key is
documented in ``docs/configuration.md``.

The settings the actors are given (``engine``, each follower's sizing, caps and filters) are the
actor layer's types (``actors.settings``, re-exported here); a :class:`FollowerConfig` adds the
token and the egress to them. Each default is written once, on its dataclass.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

from actors.settings import (
    CapsConfig,
    Egress,
    EngineConfig,
    FiltersConfig,
    FollowerSettings,
    ReconcilePolicy,
    SizingConfig,
    SizingMode,
)
from copytrader.config_yaml import MAX_CONFIG_BYTES as MAX_CONFIG_BYTES
from copytrader.config_yaml import MAX_YAML_ALIASES as MAX_YAML_ALIASES
from copytrader.config_yaml import MAX_YAML_DEPTH as MAX_YAML_DEPTH
from copytrader.config_yaml import MAX_YAML_VALUES as MAX_YAML_VALUES
from copytrader.config_yaml import ConfigError as ConfigError
from copytrader.config_yaml import Expanded, expand, join_path, read_text, read_yaml
from dhan.auth import totp_secret_ok
from dhan.codes import (
    ALGO_ID_THRESHOLD_PER_SECOND,
    ORDER_RATE_LIMITS,
    ExchangeSegment,
    ProductType,
)
from dhan.errors import redact

E = TypeVar("E", bound=StrEnum)

DHAN_REST_URL = "https://api.dhan.co/v2"
DHAN_ORDER_FEED_URL = "wss://api-order-update.dhan.co"

_FOLLOWER_NAME = re.compile(r"[a-z0-9_-]{1,40}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
#: An exchange algo ID: printable ASCII, no space (its exact form is the exchange's).
_ALGO_ID = re.compile(r"[\x21-\x7e]{1,64}")
#: Dhan's own per-second limit on order writes per account.
_DHAN_ORDERS_PER_SECOND = next(limit for span_s, limit in ORDER_RATE_LIMITS if span_s == 1.0)
#: What an access token may hold: visible ASCII, no space. A token goes into an HTTP header and
#: the socket's login: a CR/LF (a Windows env file, a paste) makes every request fail unsent.
_TOKEN = re.compile(r"[\x21-\x7e]+")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


# --- value types --------------------------------------------------------------------------


class Secret:
    """A secret string (an access token). Its repr and str are ``Secret('***')``.

    Call ``reveal()`` only where the value must go on the wire.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


class SqliteSynchronous(StrEnum):
    FULL = "FULL"
    NORMAL = "NORMAL"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def _redact_url(url: str | None) -> str | None:
    """``url`` with any password replaced by ``***`` (for reprs and summaries)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


# --- the config objects -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimConfig:
    """The embedded simulator (``broker.sim``; used only with ``embedded_sim: true``)."""

    seed: int = 1
    host: str = "127.0.0.1"
    port: int = 0  # 0 = any free port


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    embedded_sim: bool = False
    sim: SimConfig = field(default_factory=SimConfig)
    rest_url: str = DHAN_REST_URL
    order_feed_url: str = DHAN_ORDER_FEED_URL
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    feed_ping_interval_s: float = 10.0
    feed_ping_timeout_s: float = 5.0
    #: An instrument file (Dhan's scrip master CSV, or one with a FREEZE_QTY column) read at
    #: start for lot sizes and freeze quantities: http(s):// or file:// URL, or a local path.
    #: None: the embedded simulator's file with ``embedded_sim``, else no file.
    instruments_url: str | None = None


@dataclass(frozen=True, slots=True, repr=False)
class EgressConfig(Egress):
    """Where an account's connections leave from: a local IP to bind, or an HTTP(S) proxy."""

    proxy: str | None = None  # may carry credentials: shown redacted

    def __repr__(self) -> str:
        return (
            f"EgressConfig(source_address={self.source_address!r}, "
            f"proxy={_redact_url(self.proxy)!r})"
        )

    def describe(self) -> str:
        parts = []
        if self.source_address:
            parts.append(f"from {self.source_address}")
        if self.proxy:
            parts.append(f"via {_redact_url(self.proxy)}")
        return " ".join(parts) or "default route"


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """PIN + TOTP login for an account whose token cannot be renewed (both secrets)."""

    pin: Secret
    totp_secret: Secret


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """A Dhan account: the leader, or the account part of a follower."""

    client_id: str
    access_token: Secret
    egress: EgressConfig | None = None
    #: Renew the token before it expires (``GET /RenewToken`` expires the token any other tool
    #: of the account holds: switch it off for an account whose token is shared).
    renew: bool = True
    auth: AuthConfig | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowerConfig(FollowerSettings):
    """A follower's config: its actor-layer settings plus what only the wiring may hold."""

    access_token: Secret
    egress: EgressConfig | None = None
    renew: bool = True  # as AccountConfig.renew
    auth: AuthConfig | None = None

    @property
    def account(self) -> AccountConfig:
        return AccountConfig(self.client_id, self.access_token, self.egress, self.renew, self.auth)

    @property
    def settings(self) -> FollowerSettings:
        """What the actors get: no token, and of the egress only the source address."""
        values = {f.name: getattr(self, f.name) for f in fields(FollowerSettings)}
        if self.egress is not None:
            values["egress"] = Egress(self.egress.source_address)
        return FollowerSettings(**values)


@dataclass(frozen=True, slots=True, repr=False)
class StoreConfig:
    url: str = "sqlite:///copytrader.db"
    #: SQLite only: FULL fsyncs every commit; NORMAL (WAL) survives any process crash and
    #: relies on the engine's start-up adoption for power loss (docs/configuration.md).
    sqlite_synchronous: SqliteSynchronous = SqliteSynchronous.FULL

    def __repr__(self) -> str:
        return (
            f"StoreConfig(url={_redact_url(self.url)!r}, "
            f"sqlite_synchronous={self.sqlite_synchronous.value!r})"
        )


@dataclass(frozen=True, slots=True)
class TokensConfig:
    """Tokens that renew themselves (copytrader/token_renewal.py)."""

    #: Renew a token once it has less than this left (Dhan tokens live 24 h).
    renew_before_s: float = 3600.0
    #: The token store (default: copytrader-tokens.json beside the SQLite journal, or beside
    #: the config file for a server database).
    store_path: str | None = None
    #: Where PIN + TOTP logins go (default: https://auth.dhan.co for Dhan's hosts, else the
    #: REST URL's origin: the simulator).
    auth_url: str | None = None


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9108


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "INFO"
    format: LogFormat = LogFormat.TEXT


@dataclass(frozen=True, slots=True)
class Config:
    leader: AccountConfig
    followers: tuple[FollowerConfig, ...]
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    tokens: TokensConfig = field(default_factory=TokensConfig)

    def follower(self, name: str) -> FollowerConfig | None:
        return next((f for f in self.followers if f.name == name), None)

    def with_tokens_from(self, new: Config) -> Config:
        """This config with ``new``'s access tokens and follower ``enabled`` flags.

        What a SIGHUP may change without a restart. Followers missing from ``new`` keep their
        old values; any other difference is reported by :meth:`changes_needing_restart`.
        """
        followers = []
        for f in self.followers:
            nf = new.follower(f.name)
            followers.append(
                f if nf is None else replace(f, access_token=nf.access_token, enabled=nf.enabled)
            )
        leader = replace(self.leader, access_token=new.leader.access_token)
        return replace(self, leader=leader, followers=tuple(followers))

    def changes_needing_restart(self, new: Config) -> list[str]:
        """The key paths that differ between this config and ``new`` beyond tokens and enabled
        flags (a follower by name: ``followers[alice].sizing.multiplier``). Never values: a
        changed key may hold a secret (``store.url``'s password, a proxy's)."""
        changes: list[str] = []
        for section in fields(self):
            if section.name not in ("leader", "followers"):
                changes += _changed_keys(
                    getattr(self, section.name), getattr(new, section.name), section.name
                )
        leader = replace(self.leader, access_token=new.leader.access_token)
        changes += _changed_keys(leader, new.leader, "leader")
        old_names = [f.name for f in self.followers]
        new_names = [f.name for f in new.followers]
        changes += [f"followers[{n}] (added)" for n in new_names if n not in old_names]
        changes += [f"followers[{n}] (removed)" for n in old_names if n not in new_names]
        for f in self.followers:
            nf = new.follower(f.name)
            if nf is not None:
                same_flags = replace(nf, access_token=f.access_token, enabled=f.enabled)
                changes += _changed_keys(f, same_flags, f"followers[{f.name}]")
        return changes


def _changed_keys(old: Any, new: Any, path: str) -> list[str]:
    """The key paths under ``path`` whose values differ (config dataclasses, field by field)."""
    if old == new:
        return []
    if is_dataclass(old) and type(old) is type(new):
        changed: list[str] = []
        for f in fields(old):
            changed += _changed_keys(getattr(old, f.name), getattr(new, f.name), f"{path}.{f.name}")
        return changed
    return [path]


def config_summary(cfg: Config) -> list[str]:
    """One line per follower for logs and the CLI: name, client id, sizing, egress, state."""
    lines = []
    for f in cfg.followers:
        parts = [f"{f.name}: client {f.client_id}", f"sizing {f.sizing.describe()}"]
        caps = []
        if f.caps.max_order_quantity is not None:
            caps.append(f"qty<={f.caps.max_order_quantity}")
        if f.caps.max_order_value_inr is not None:
            caps.append(f"value<={f.caps.max_order_value_inr:g} INR")
        if caps:
            parts.append("caps " + " ".join(caps))
        filters = []
        for label, values in (
            ("segments", f.filters.exchange_segments),
            ("products", f.filters.products),
            ("securities", f.filters.security_ids),
        ):
            if values:
                filters.append(f"{label}={','.join(sorted(values))}")
        if filters:
            parts.append("only " + " ".join(filters))
        if f.egress is not None:
            parts.append(f"egress {f.egress.describe()}")
        if f.algo_id is not None:
            parts.append(f"algo id {f.algo_id}")
        parts.append("enabled" if f.enabled else "DISABLED")
        lines.append(", ".join(parts))
    return lines


# --- reading typed values -----------------------------------------------------------------


class _Node:
    """One value of the YAML tree and its key path, with typed, checked readers."""

    __slots__ = ("path", "value")

    def __init__(self, value: Any, path: str) -> None:
        self.value = value
        self.path = path

    def fail(self, message: str) -> ConfigError:
        return ConfigError(self.path or "(top level)", message)

    def mapping(self, allowed: Iterable[str]) -> dict[str, _Node]:
        allowed = tuple(allowed)
        if not isinstance(self.value, dict):
            raise self.fail(f"must be a mapping, got {_kind(self.value)}")
        out = {}
        for key, value in self.value.items():
            if not isinstance(key, str) or key not in allowed:
                raise ConfigError(
                    join_path(self.path, str(key)),
                    f"unknown key (expected one of: {', '.join(allowed)})",
                )
            out[key] = _Node(value, join_path(self.path, key))
        return out

    def items(self) -> list[_Node]:
        if not isinstance(self.value, list):
            raise self.fail(f"must be a list, got {_kind(self.value)}")
        return [_Node(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    def text(self, *, allow_number: bool = False) -> str:
        v = self.value
        if allow_number and isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        if not isinstance(v, str):
            raise self.fail(f"must be a string, got {_kind(v)}")
        if not v.strip():
            raise self.fail("must not be empty")
        return str(v).strip()

    def secret(self) -> Secret:
        if not isinstance(self.value, str):
            raise self.fail(f"must be a string, got {_kind(self.value)}")  # never echo it
        value = self.value.strip()
        if not value:
            raise self.fail("must not be empty (is its environment variable set?)")
        if not _TOKEN.fullmatch(value):
            # never echo it: say only what kind of character is wrong
            if _has_control(value):
                what = "a control character such as CR or LF"
            else:
                what = "a space" if value.isascii() else "a non-ASCII character"
            raise self.fail(f"must be printable ASCII without spaces; it holds {what}")
        return Secret(value)

    def boolean(self) -> bool:
        v = self.value
        if isinstance(v, Expanded):
            low = v.strip().lower()
            if low in ("true", "yes", "on", "1"):
                return True
            if low in ("false", "no", "off", "0"):
                return False
        if not isinstance(v, bool):
            raise self.fail(f"must be true or false, got {_kind(v)}")
        return v

    def integer(self, *, min_value: int | None = None, max_value: int | None = None) -> int:
        v = self.value
        if isinstance(v, Expanded):
            try:
                v = int(v.strip())
            except ValueError:
                raise self.fail(f"must be an integer, got {str(self.value)!r}") from None
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(f"must be an integer, got {_kind(v)}")
        if min_value is not None and v < min_value:
            raise self.fail(f"must be >= {min_value}")
        if max_value is not None and v > max_value:
            raise self.fail(f"must be <= {max_value}")
        return v

    def number(self, *, positive: bool = False, non_negative: bool = False) -> float:
        v = self.value
        if isinstance(v, Expanded):
            try:
                v = float(v.strip())
            except ValueError:
                raise self.fail(f"must be a number, got {str(self.value)!r}") from None
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(f"must be a number, got {_kind(v)}")
        result = float(v)
        if result != result or result in (float("inf"), float("-inf")):
            raise self.fail("must be a finite number")
        if positive and result <= 0:
            raise self.fail("must be > 0")
        if non_negative and result < 0:
            raise self.fail("must be >= 0")
        return result

    def choice(self, enum: type[E]) -> E:
        v = self.value
        if not isinstance(v, str):
            raise self.fail(f"must be one of {', '.join(enum)}; got {_kind(v)}")
        try:
            return enum(v.strip())
        except ValueError:
            raise self.fail(f"must be one of {', '.join(enum)}; got {v!r}") from None

    def url(self, schemes: tuple[str, ...]) -> str:
        text = self.text()
        parts = urlsplit(text)
        if parts.scheme not in schemes or not parts.hostname:
            raise self.fail(f"must be a {' or '.join(s + '://' for s in schemes)} URL")
        try:
            parts.port  # noqa: B018  # raises ValueError for a bad port
        except ValueError:
            raise self.fail("has an invalid port") from None
        return text.rstrip("/")

    def non_empty_set(self, read: Callable[[_Node], Any]) -> frozenset[Any]:
        items = self.items()
        if not items:
            raise self.fail("must not be empty (leave the key out to allow all)")
        return frozenset(read(item) for item in items)


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "a list" if isinstance(value, list) else "a mapping"
    )


# --- sections -----------------------------------------------------------------------------
#
# Each section is read by a table: key -> reader. A key that is present is read (in the table's
# order, which is also the order "unknown key" lists them in); a key left out is not passed, so
# the dataclass default applies -- the one place each default is written. A field without a
# default is a required key.

_Reader = Callable[[_Node], Any]
_D = TypeVar("_D", bound="DataclassInstance")


def _read(cls: type[_D], node: _Node) -> _D:
    """The section ``cls`` from the mapping at ``node``, read by its table in ``_READERS``."""
    readers = _READERS[cls]
    return _build(cls, node, node.mapping(readers), readers)


def _build(
    cls: type[_D], node: _Node, m: Mapping[str, _Node], readers: Mapping[str, _Reader]
) -> _D:
    """``cls`` from the keys present in ``m``; the required ones (no default) are checked first."""
    required = {
        f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
    }
    for key in readers:
        if key in required and key not in m:
            raise ConfigError(join_path(node.path, key), "is required")
    return cls(**{key: read(m[key]) for key, read in readers.items() if key in m})


def _pin(node: _Node) -> Secret:
    pin = node.secret()
    if not pin.reveal().isdigit():
        raise node.fail("must be the account's numeric PIN")
    return pin


def _totp_secret(node: _Node) -> Secret:
    secret = node.secret()
    if not totp_secret_ok(secret.reveal()):
        raise node.fail("must be the base32 TOTP secret Dhan showed when TOTP was set up")
    return secret


def _positive(node: _Node) -> float:
    return node.number(positive=True)


def _non_negative(node: _Node) -> float:
    return node.number(non_negative=True)


def _at_least_one(node: _Node) -> int:
    return node.integer(min_value=1)


def _port(node: _Node) -> int:
    return node.integer(min_value=0, max_value=65535)


def _broker(node: _Node) -> BrokerConfig:
    m = node.mapping(_READERS[BrokerConfig])
    embedded = m["embedded_sim"].boolean() if "embedded_sim" in m else BrokerConfig().embedded_sim
    if "sim" in m and not embedded:
        raise m["sim"].fail("only valid with embedded_sim: true")
    return _build(BrokerConfig, node, m, _READERS[BrokerConfig])


def _instruments_url(node: _Node) -> str:
    """An http(s):// or file:// URL, or a local path (read at start)."""
    text = node.text()
    if "://" not in text:
        return text
    if urlsplit(text).scheme == "file":
        if not urlsplit(text).path:
            raise node.fail("must name a file (file:///path/to/file.csv)")
        return text
    return node.url(("https", "http"))


def _egress(node: _Node) -> EgressConfig:
    m = node.mapping(_READERS[EgressConfig])
    if not m:
        raise node.fail("set source_address or proxy (or leave egress out)")
    return _build(EgressConfig, node, m, _READERS[EgressConfig])


def _ip_address(node: _Node) -> str:
    value = node.text()
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise node.fail("must be an IPv4 or IPv6 address") from None
    return value


def _client_id(node: _Node) -> str:
    value = node.text(allow_number=True)
    if not _CLIENT_ID.fullmatch(value):
        raise node.fail("must be a Dhan client id (letters and digits)")
    return value


def _algo_id(node: _Node) -> str:
    value = node.text(allow_number=True)
    if not _ALGO_ID.fullmatch(value):
        raise node.fail("must be the exchange's algo ID: 1-64 characters, no spaces")
    return value


def _max_orders_per_second(node: _Node) -> int:
    value = node.integer(min_value=1)
    if value > _DHAN_ORDERS_PER_SECOND:
        raise node.fail(
            f"must be <= {_DHAN_ORDERS_PER_SECOND} (Dhan accepts at most "
            f"{_DHAN_ORDERS_PER_SECOND} order writes a second per account)"
        )
    return value


def _deviation_pct(node: _Node) -> float:
    value = node.number(positive=True)
    if value >= 100:
        raise node.fail("must be < 100 (a percentage of the leader's fill price)")
    return value


def _check_algo_ids(followers: tuple[FollowerConfig, ...], engine: EngineConfig) -> None:
    """At the exchange's algo threshold every follower must name its registered algo ID.

    Only followers: the engine places no order on the leader's account.
    """
    rate = engine.max_orders_per_second
    if rate < ALGO_ID_THRESHOLD_PER_SECOND:
        return
    for i, f in enumerate(followers):
        if f.algo_id is None:
            raise ConfigError(
                f"followers[{i}].algo_id",
                f"is required with engine.max_orders_per_second: {rate} (from "
                f"{ALGO_ID_THRESHOLD_PER_SECOND} orders a second an order flow is an algo the "
                "exchange must have registered; see docs/operations.md, Compliance)",
            )


def _follower_name(node: _Node) -> str:
    value = node.text()
    if not _FOLLOWER_NAME.fullmatch(value):
        raise node.fail("must be 1-40 characters of a-z, 0-9, _ and -")
    return value


#: sizing mode -> its key, and whether the mode needs it
_SIZING_KEYS = {
    SizingMode.MULTIPLIER: ("multiplier", True),
    SizingMode.FIXED: ("quantity", True),
    SizingMode.CAPITAL: ("capital_multiplier", False),
}


def _sizing(node: _Node) -> SizingConfig:
    m = node.mapping(_READERS[SizingConfig])
    if "mode" not in m:
        raise ConfigError(
            join_path(node.path, "mode"), "is required (multiplier, fixed or capital)"
        )
    mode = m["mode"].choice(SizingMode)
    for other_mode, (key, _) in _SIZING_KEYS.items():
        if key in m and other_mode is not mode:
            raise m[key].fail(f"only valid with mode: {other_mode}")
    key, needed = _SIZING_KEYS[mode]
    if needed and key not in m:
        raise ConfigError(join_path(node.path, key), f"is required with mode: {mode}")
    return _build(SizingConfig, node, m, _READERS[SizingConfig])


def _followers(node: _Node, leader: AccountConfig) -> tuple[FollowerConfig, ...]:
    items = node.items()
    if not items:
        raise node.fail("must list at least one follower")
    result: list[FollowerConfig] = []
    names: dict[str, int] = {}
    client_ids: dict[str, int] = {}
    egress_owner: dict[tuple[str, str], str] = {}
    for i, item in enumerate(items):
        f = _read(FollowerConfig, item)
        where = f"{node.path}[{i}]"
        if f.name in names:
            raise ConfigError(f"{where}.name", f"duplicate name (also followers[{names[f.name]}])")
        if f.client_id == leader.client_id:
            raise ConfigError(f"{where}.client_id", "is the leader's client id")
        if f.client_id in client_ids:
            raise ConfigError(
                f"{where}.client_id",
                f"duplicate client id (also followers[{client_ids[f.client_id]}])",
            )
        if f.egress is not None:
            # Dhan requires one static IP per account: two followers must not share an egress.
            for key, value in (
                ("source_address", f.egress.source_address),
                ("proxy", f.egress.proxy),
            ):
                if value is None:
                    continue
                owner = egress_owner.get((key, value))
                if owner is not None:
                    raise ConfigError(
                        f"{where}.egress.{key}",
                        f"already used by follower {owner}"
                        " (Dhan requires a distinct static IP per account)",
                    )
                egress_owner[(key, value)] = f.name
        names[f.name] = i
        client_ids[f.client_id] = i
        result.append(f)
    return tuple(result)


def _freeze_quantities(node: _Node) -> dict[str, int]:
    if not isinstance(node.value, dict):
        got = _kind(node.value)
        raise node.fail(f"must be a mapping of SEGMENT:securityId to a quantity, got {got}")
    out: dict[str, int] = {}
    for key, value in node.value.items():
        child = _Node(value, join_path(node.path, str(key)))
        segment, _, security_id = str(key).partition(":")
        if segment not in {s.value for s in ExchangeSegment} or not security_id.strip():
            raise child.fail("key must be SEGMENT:securityId, e.g. NSE_FNO:52175")
        out[f"{segment}:{security_id.strip()}"] = child.integer(min_value=1)
    return out


def _store_url(node: _Node) -> str:
    url = node.text()
    if "://" not in url:
        raise node.fail("must be a SQLAlchemy URL such as sqlite:///copytrader.db")
    return url


def _log_level(node: _Node) -> str:
    value = node.text().upper()
    if value not in _LOG_LEVELS:
        raise node.fail(f"must be one of {', '.join(_LOG_LEVELS)}")
    return value


def _choice(enum: type[E]) -> Callable[[_Node], E]:
    return lambda node: node.choice(enum)


def _section(cls: type[_D]) -> Callable[[_Node], _D]:
    """The reader of a nested section."""
    return lambda node: _read(cls, node)


def _set_of(read: Callable[[_Node], Any]) -> _Reader:
    return lambda node: node.non_empty_set(read)


#: section -> key -> reader. Every field of each section has its key (tests/unit/config).
_READERS: dict[type[Any], dict[str, _Reader]] = {
    SimConfig: {"seed": _Node.integer, "host": _Node.text, "port": _port},
    BrokerConfig: {
        "embedded_sim": _Node.boolean,
        "sim": _section(SimConfig),
        "rest_url": lambda n: n.url(("https", "http")),
        "order_feed_url": lambda n: n.url(("wss", "ws")),
        "connect_timeout_s": _positive,
        "read_timeout_s": _positive,
        "feed_ping_interval_s": _positive,
        "feed_ping_timeout_s": _positive,
        "instruments_url": _instruments_url,
    },
    EgressConfig: {"source_address": _ip_address, "proxy": lambda n: n.url(("http", "https"))},
    AccountConfig: {
        "client_id": _client_id,
        "access_token": _Node.secret,
        "egress": _egress,
        "renew": _Node.boolean,
        "auth": lambda n: _read(AuthConfig, n),
    },
    AuthConfig: {"pin": _pin, "totp_secret": _totp_secret},
    SizingConfig: {
        "mode": _choice(SizingMode),
        "multiplier": _positive,
        "quantity": _at_least_one,
        "capital_multiplier": _positive,
    },
    CapsConfig: {"max_order_quantity": _at_least_one, "max_order_value_inr": _positive},
    FiltersConfig: {
        "exchange_segments": _set_of(_choice(ExchangeSegment)),
        "products": _set_of(_choice(ProductType)),
        "security_ids": _set_of(lambda i: i.text(allow_number=True)),
    },
    FollowerConfig: {
        "name": _follower_name,
        "client_id": _client_id,
        "access_token": _Node.secret,
        "enabled": _Node.boolean,
        "sizing": _sizing,
        "caps": _section(CapsConfig),
        "filters": _section(FiltersConfig),
        "egress": _egress,
        "copy_market_after_accept": _Node.boolean,
        "renew": _Node.boolean,
        "auth": lambda n: _read(AuthConfig, n),
        "algo_id": _algo_id,
    },
    EngineConfig: {
        "reconcile_policy": _choice(ReconcilePolicy),
        "follower_tick_s": _positive,
        "bracket_tick_s": _positive,
        "fund_refresh_s": _positive,
        "outcome_lookup_delay_s": _non_negative,
        "audit_path": _Node.text,
        "leader_reconcile_s": _non_negative,
        "follower_max_restarts": _at_least_one,
        "follower_restart_period_s": _positive,
        "freeze_quantities": _freeze_quantities,
        "follower_sockets": _Node.boolean,
        "max_orders_per_second": _max_orders_per_second,
        "max_entry_age_s": _positive,
        "max_entry_deviation_pct": _deviation_pct,
    },
    StoreConfig: {"url": _store_url, "sqlite_synchronous": _choice(SqliteSynchronous)},
    MetricsConfig: {"enabled": _Node.boolean, "host": _Node.text, "port": _port},
    LoggingConfig: {"level": _log_level, "format": _choice(LogFormat)},
    TokensConfig: {
        "renew_before_s": _positive,
        "store_path": _Node.text,
        "auth_url": lambda n: n.url(("https", "http")),
    },
}
#: the top-level sections read after ``leader`` and ``followers``, in this order
_TOP_SECTIONS: dict[str, _Reader] = {
    "broker": _broker,
    "engine": _section(EngineConfig),
    "store": _section(StoreConfig),
    "metrics": _section(MetricsConfig),
    "logging": _section(LoggingConfig),
    "tokens": _section(TokensConfig),
}


# --- parsing ------------------------------------------------------------------------------


_TOP_LEVEL = ("broker", "leader", "followers", "engine", "store", "metrics", "logging", "tokens")


def parse_config(
    text: str, env: Mapping[str, str] | None = None, *, source: str = "config"
) -> Config:
    """Validate the YAML ``text`` (see :func:`load_config`); ``source`` names it in errors."""
    raw = read_yaml(text, source)
    if raw is None:
        raise ConfigError(source, "is empty")
    tree = expand(raw, os.environ if env is None else env, "")
    try:
        return _config(_Node(tree, ""))
    except ConfigError as exc:
        # An error may quote a value ("got '...'"): a token put under the wrong key, say by a
        # swapped ${VAR}, must not reach the terminal or the journal of a service manager.
        message = redact(exc.message, _secrets_in(tree))
        if message == exc.message:
            raise
        raise ConfigError(exc.path, message) from None


def _config(root: _Node) -> Config:
    m = root.mapping(_TOP_LEVEL)
    for key in ("leader", "followers"):
        if key not in m:
            raise ConfigError(key, "is required")
    leader = _read(AccountConfig, m["leader"])
    cfg = Config(
        leader=leader,
        followers=_followers(m["followers"], leader),
        **{key: read(m[key]) for key, read in _TOP_SECTIONS.items() if key in m},
    )
    _check_algo_ids(cfg.followers, cfg.engine)
    return cfg


def _secrets_in(tree: Any) -> list[str]:
    """Every access token and URL password in the expanded YAML tree, for redaction."""
    found: list[str] = []

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str):
            if key in ("access_token", "pin", "totp_secret"):
                found.extend({value, value.strip()})
            elif "://" in value:
                try:
                    password = urlsplit(value).password
                except ValueError:  # not a URL after all
                    password = None
                if password:
                    found.extend({password, unquote(password)})

    walk(tree, "")
    return found


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file at ``path``.

    ``env`` (default ``os.environ``) feeds ``${VAR}`` expansion. Raises ``ConfigError`` for
    anything wrong, including an unreadable file.
    """
    return parse_config(read_text(path), env, source=str(path))
