"""The configuration: ``config.yaml`` read once at start into frozen, validated objects.

``load_config`` expands ``${VAR}`` / ``${VAR:-default}``, checks every key and raises
``ConfigError`` whose text names the key path (``followers[1].sizing.multiplier: must be > 0``);
the CLI prints that line and exits 2. Access tokens are ``Secret``s, so no repr, log line or
error can show them. Every key is documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import yaml

from dhan.codes import ExchangeSegment, ProductType
from dhan.errors import redact

E = TypeVar("E", bound=StrEnum)

DHAN_REST_URL = "https://api.dhan.co/v2"
DHAN_ORDER_FEED_URL = "wss://api-order-update.dhan.co"

_FOLLOWER_NAME = re.compile(r"[a-z0-9_-]{1,40}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
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


class ConfigError(Exception):
    """A bad config. ``str()`` is one line: ``<key path>: <what is wrong>``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class SizingMode(StrEnum):
    MULTIPLIER = "multiplier"  # follower qty = leader qty x multiplier
    FIXED = "fixed"  # follower qty = quantity, whatever the leader's
    CAPITAL = "capital"  # leader qty x (follower balance / leader balance) x capital_multiplier


class ReconcilePolicy(StrEnum):
    """What to do with a leader order the socket missed and a REST reconcile found."""

    COPY_OPEN = "copy_open"  # copy it if it is still open
    COPY_ALL = "copy_all"  # copy it even if it already finished (e.g. filled while we were down)
    SKIP = "skip"  # never copy; audit it
    ALERT = "alert"  # never copy; audit it and log a warning


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


@dataclass(frozen=True, slots=True, repr=False)
class EgressConfig:
    """Where an account's connections leave from: a local IP to bind, or an HTTP(S) proxy."""

    source_address: str | None = None
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


@dataclass(frozen=True, slots=True)
class SizingConfig:
    """How a follower's quantity follows the leader's (rounded down to the lot by the engine).

    Only the field of the chosen ``mode`` is meaningful; the others keep their defaults.
    """

    mode: SizingMode
    multiplier: float = 1.0  # mode multiplier
    quantity: int = 0  # mode fixed
    capital_multiplier: float = 1.0  # mode capital: extra factor on the balance ratio

    def describe(self) -> str:
        if self.mode is SizingMode.MULTIPLIER:
            return f"multiplier x{self.multiplier:g}"
        if self.mode is SizingMode.FIXED:
            return f"fixed {self.quantity}"
        return f"capital x{self.capital_multiplier:g}"


@dataclass(frozen=True, slots=True)
class CapsConfig:
    """Upper bounds on one follower order (``None`` = no cap)."""

    max_order_quantity: int | None = None
    max_order_value_inr: float | None = None


@dataclass(frozen=True, slots=True)
class FiltersConfig:
    """Which leader orders a follower copies. An empty set means "all"."""

    exchange_segments: frozenset[ExchangeSegment] = frozenset()
    products: frozenset[ProductType] = frozenset()
    security_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class FollowerConfig:
    name: str
    client_id: str
    access_token: Secret
    sizing: SizingConfig
    enabled: bool = True
    caps: CapsConfig = field(default_factory=CapsConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    egress: EgressConfig | None = None
    #: Copy a leader MARKET order only once the broker accepted it (PENDING or a fill), never
    #: on its TRANSIT frame: a copy of an order the leader's RMS then rejects is not placed.
    copy_market_after_accept: bool = True
    renew: bool = True  # as AccountConfig.renew
    auth: AuthConfig | None = None

    @property
    def account(self) -> AccountConfig:
        return AccountConfig(self.client_id, self.access_token, self.egress, self.renew, self.auth)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    reconcile_policy: ReconcilePolicy = ReconcilePolicy.COPY_OPEN
    follower_tick_s: float = 2.0
    bracket_tick_s: float = 1.0
    fund_refresh_s: float = 60.0
    outcome_lookup_delay_s: float = 0.5
    audit_path: str = "copytrader-audit.jsonl"
    #: Leader order book re-read over REST this often even while the socket is up (0 = only
    #: after a (re)connect): the socket never replays, and a frame it silently lost is found here.
    leader_reconcile_s: float = 30.0
    #: A follower actor crashing more than this many times in ``follower_restart_period_s``
    #: is quarantined (its subtree stops, the other followers go on).
    follower_max_restarts: int = 5
    follower_restart_period_s: float = 60.0
    #: ``"SEGMENT:securityId"`` -> the exchange's freeze quantity (largest order it accepts):
    #: a sized copy above it goes out as several orders (``actors.slicing``).
    freeze_quantities: Mapping[str, int] = field(default_factory=dict)


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
        parts.append("enabled" if f.enabled else "DISABLED")
        lines.append(", ".join(parts))
    return lines


# --- ${VAR} expansion ---------------------------------------------------------------------


class _Expanded(str):
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
    return _Expanded(result) if expanded else result


def _expand(value: Any, env: Mapping[str, str], path: str) -> Any:
    if isinstance(value, str):
        return _expand_str(value, env, path)
    if isinstance(value, list):
        return [_expand(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _expand(v, env, _join(path, str(k))) for k, v in value.items()}
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


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
                    _join(self.path, str(key)),
                    f"unknown key (expected one of: {', '.join(allowed)})",
                )
            out[key] = _Node(value, _join(self.path, key))
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
        if isinstance(v, _Expanded):
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
        if isinstance(v, _Expanded):
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
        if isinstance(v, _Expanded):
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


def _opt(section: Mapping[str, _Node], key: str, read: Callable[[_Node], Any], default: Any) -> Any:
    node = section.get(key)
    return default if node is None else read(node)


# --- sections -----------------------------------------------------------------------------


def _sim(node: _Node) -> SimConfig:
    m = node.mapping(("seed", "host", "port"))
    d = SimConfig()
    return SimConfig(
        seed=_opt(m, "seed", lambda n: n.integer(), d.seed),
        host=_opt(m, "host", lambda n: n.text(), d.host),
        port=_opt(m, "port", lambda n: n.integer(min_value=0, max_value=65535), d.port),
    )


def _broker(node: _Node) -> BrokerConfig:
    m = node.mapping([f.name for f in fields(BrokerConfig)])
    d = BrokerConfig()
    embedded = _opt(m, "embedded_sim", _Node.boolean, d.embedded_sim)
    if "sim" in m and not embedded:
        raise m["sim"].fail("only valid with embedded_sim: true")

    def seconds(key: str) -> float:
        value: float = _opt(m, key, lambda n: n.number(positive=True), getattr(d, key))
        return value

    return BrokerConfig(
        embedded_sim=embedded,
        sim=_opt(m, "sim", _sim, d.sim),
        rest_url=_opt(m, "rest_url", lambda n: n.url(("https", "http")), d.rest_url),
        order_feed_url=_opt(m, "order_feed_url", lambda n: n.url(("wss", "ws")), d.order_feed_url),
        connect_timeout_s=seconds("connect_timeout_s"),
        read_timeout_s=seconds("read_timeout_s"),
        feed_ping_interval_s=seconds("feed_ping_interval_s"),
        feed_ping_timeout_s=seconds("feed_ping_timeout_s"),
    )


def _egress(node: _Node) -> EgressConfig:
    m = node.mapping(("source_address", "proxy"))
    if not m:
        raise node.fail("set source_address or proxy (or leave egress out)")
    source = None
    if "source_address" in m:
        source = m["source_address"].text()
        try:
            ipaddress.ip_address(source)
        except ValueError:
            raise m["source_address"].fail("must be an IPv4 or IPv6 address") from None
    proxy = _opt(m, "proxy", lambda n: n.url(("http", "https")), None)
    return EgressConfig(source_address=source, proxy=proxy)


def _client_id(node: _Node) -> str:
    value = node.text(allow_number=True)
    if not _CLIENT_ID.fullmatch(value):
        raise node.fail("must be a Dhan client id (letters and digits)")
    return value


def _auth(node: _Node) -> AuthConfig:
    m = node.mapping(("pin", "totp_secret"))
    for key in ("pin", "totp_secret"):
        if key not in m:
            raise ConfigError(_join(node.path, key), "is required (PIN + TOTP go together)")
    pin = m["pin"].secret()
    if not pin.reveal().isdigit():
        raise m["pin"].fail("must be the account's numeric PIN")
    secret = m["totp_secret"].secret()
    if not _base32_ok(secret.reveal()):
        raise m["totp_secret"].fail("must be the base32 TOTP secret Dhan showed when TOTP was set")
    return AuthConfig(pin=pin, totp_secret=secret)


def _base32_ok(value: str) -> bool:
    import pyotp

    try:
        pyotp.TOTP(value).now()
    except Exception:  # binascii.Error (a ValueError) or a TypeError: not base32
        return False
    return True


def _leader(node: _Node) -> AccountConfig:
    m = node.mapping(("client_id", "access_token", "egress", "renew", "auth"))
    for key in ("client_id", "access_token"):
        if key not in m:
            raise ConfigError(_join(node.path, key), "is required")
    return AccountConfig(
        client_id=_client_id(m["client_id"]),
        access_token=m["access_token"].secret(),
        egress=_opt(m, "egress", _egress, None),
        renew=_opt(m, "renew", _Node.boolean, True),
        auth=_opt(m, "auth", _auth, None),
    )


_SIZING_KEYS = {
    SizingMode.MULTIPLIER: ("multiplier",),
    SizingMode.FIXED: ("quantity",),
    SizingMode.CAPITAL: ("capital_multiplier",),
}


def _sizing(node: _Node) -> SizingConfig:
    m = node.mapping(("mode", "multiplier", "quantity", "capital_multiplier"))
    if "mode" not in m:
        raise ConfigError(_join(node.path, "mode"), "is required (multiplier, fixed or capital)")
    mode = m["mode"].choice(SizingMode)
    for other_mode, keys in _SIZING_KEYS.items():
        for key in keys:
            if key in m and other_mode is not mode:
                raise m[key].fail(f"only valid with mode: {other_mode}")
    if mode is SizingMode.MULTIPLIER:
        if "multiplier" not in m:
            raise ConfigError(_join(node.path, "multiplier"), "is required with mode: multiplier")
        return SizingConfig(mode, multiplier=m["multiplier"].number(positive=True))
    if mode is SizingMode.FIXED:
        if "quantity" not in m:
            raise ConfigError(_join(node.path, "quantity"), "is required with mode: fixed")
        return SizingConfig(mode, quantity=m["quantity"].integer(min_value=1))
    return SizingConfig(
        mode,
        capital_multiplier=_opt(m, "capital_multiplier", lambda n: n.number(positive=True), 1.0),
    )


def _caps(node: _Node) -> CapsConfig:
    m = node.mapping(("max_order_quantity", "max_order_value_inr"))
    return CapsConfig(
        max_order_quantity=_opt(m, "max_order_quantity", lambda n: n.integer(min_value=1), None),
        max_order_value_inr=_opt(m, "max_order_value_inr", lambda n: n.number(positive=True), None),
    )


def _filters(node: _Node) -> FiltersConfig:
    m = node.mapping(("exchange_segments", "products", "security_ids"))
    return FiltersConfig(
        exchange_segments=_opt(
            m,
            "exchange_segments",
            lambda n: n.non_empty_set(lambda i: i.choice(ExchangeSegment)),
            frozenset(),
        ),
        products=_opt(
            m, "products", lambda n: n.non_empty_set(lambda i: i.choice(ProductType)), frozenset()
        ),
        security_ids=_opt(
            m,
            "security_ids",
            lambda n: n.non_empty_set(lambda i: i.text(allow_number=True)),
            frozenset(),
        ),
    )


def _follower(node: _Node) -> FollowerConfig:
    m = node.mapping(
        (
            "name",
            "client_id",
            "access_token",
            "enabled",
            "sizing",
            "caps",
            "filters",
            "egress",
            "copy_market_after_accept",
            "renew",
            "auth",
        )
    )
    for key in ("name", "client_id", "access_token", "sizing"):
        if key not in m:
            raise ConfigError(_join(node.path, key), "is required")
    name = m["name"].text()
    if not _FOLLOWER_NAME.fullmatch(name):
        raise m["name"].fail("must be 1-40 characters of a-z, 0-9, _ and -")
    return FollowerConfig(
        name=name,
        client_id=_client_id(m["client_id"]),
        access_token=m["access_token"].secret(),
        enabled=_opt(m, "enabled", _Node.boolean, True),
        sizing=_sizing(m["sizing"]),
        caps=_opt(m, "caps", _caps, CapsConfig()),
        filters=_opt(m, "filters", _filters, FiltersConfig()),
        egress=_opt(m, "egress", _egress, None),
        copy_market_after_accept=_opt(m, "copy_market_after_accept", _Node.boolean, True),
        renew=_opt(m, "renew", _Node.boolean, True),
        auth=_opt(m, "auth", _auth, None),
    )


def _followers(node: _Node, leader: AccountConfig) -> tuple[FollowerConfig, ...]:
    items = node.items()
    if not items:
        raise node.fail("must list at least one follower")
    result: list[FollowerConfig] = []
    names: dict[str, int] = {}
    client_ids: dict[str, int] = {}
    egress_owner: dict[tuple[str, str], str] = {}
    for i, item in enumerate(items):
        f = _follower(item)
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


def _engine(node: _Node) -> EngineConfig:
    m = node.mapping([f.name for f in fields(EngineConfig)])
    d = EngineConfig()
    return EngineConfig(
        reconcile_policy=_opt(
            m, "reconcile_policy", lambda n: n.choice(ReconcilePolicy), d.reconcile_policy
        ),
        follower_tick_s=_opt(m, "follower_tick_s", lambda n: n.number(positive=True), 2.0),
        bracket_tick_s=_opt(m, "bracket_tick_s", lambda n: n.number(positive=True), 1.0),
        fund_refresh_s=_opt(m, "fund_refresh_s", lambda n: n.number(positive=True), 60.0),
        outcome_lookup_delay_s=_opt(
            m, "outcome_lookup_delay_s", lambda n: n.number(non_negative=True), 0.5
        ),
        audit_path=_opt(m, "audit_path", lambda n: n.text(), d.audit_path),
        leader_reconcile_s=_opt(
            m, "leader_reconcile_s", lambda n: n.number(non_negative=True), d.leader_reconcile_s
        ),
        follower_max_restarts=_opt(
            m, "follower_max_restarts", lambda n: n.integer(min_value=1), d.follower_max_restarts
        ),
        follower_restart_period_s=_opt(
            m,
            "follower_restart_period_s",
            lambda n: n.number(positive=True),
            d.follower_restart_period_s,
        ),
        freeze_quantities=_opt(m, "freeze_quantities", _freeze_quantities, {}),
    )


def _freeze_quantities(node: _Node) -> dict[str, int]:
    if not isinstance(node.value, dict):
        got = _kind(node.value)
        raise node.fail(f"must be a mapping of SEGMENT:securityId to a quantity, got {got}")
    out: dict[str, int] = {}
    for key, value in node.value.items():
        child = _Node(value, _join(node.path, str(key)))
        segment, _, security_id = str(key).partition(":")
        if segment not in {s.value for s in ExchangeSegment} or not security_id.strip():
            raise child.fail("key must be SEGMENT:securityId, e.g. NSE_FNO:52175")
        out[f"{segment}:{security_id.strip()}"] = child.integer(min_value=1)
    return out


def _store(node: _Node) -> StoreConfig:
    m = node.mapping(("url", "sqlite_synchronous"))
    url = _opt(m, "url", lambda n: n.text(), StoreConfig().url)
    if "://" not in url:
        raise m["url"].fail("must be a SQLAlchemy URL such as sqlite:///copytrader.db")
    sync = _opt(
        m, "sqlite_synchronous", lambda n: n.choice(SqliteSynchronous), SqliteSynchronous.FULL
    )
    return StoreConfig(url=url, sqlite_synchronous=sync)


def _metrics(node: _Node) -> MetricsConfig:
    m = node.mapping(("enabled", "host", "port"))
    d = MetricsConfig()
    return MetricsConfig(
        enabled=_opt(m, "enabled", _Node.boolean, d.enabled),
        host=_opt(m, "host", lambda n: n.text(), d.host),
        port=_opt(m, "port", lambda n: n.integer(min_value=0, max_value=65535), d.port),
    )


def _logging(node: _Node) -> LoggingConfig:
    m = node.mapping(("level", "format"))

    def level(n: _Node) -> str:
        value = n.text().upper()
        if value not in _LOG_LEVELS:
            raise n.fail(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value

    return LoggingConfig(
        level=_opt(m, "level", level, "INFO"),
        format=_opt(m, "format", lambda n: n.choice(LogFormat), LogFormat.TEXT),
    )


# --- loading ------------------------------------------------------------------------------


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


def _read_yaml(text: str, source: str) -> Any:
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


_TOP_LEVEL = ("broker", "leader", "followers", "engine", "store", "metrics", "logging", "tokens")


def parse_config(
    text: str, env: Mapping[str, str] | None = None, *, source: str = "config"
) -> Config:
    """Validate the YAML ``text`` (see :func:`load_config`); ``source`` names it in errors."""
    raw = _read_yaml(text, source)
    if raw is None:
        raise ConfigError(source, "is empty")
    tree = _expand(raw, os.environ if env is None else env, "")
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
    leader = _leader(m["leader"])
    return Config(
        leader=leader,
        followers=_followers(m["followers"], leader),
        broker=_opt(m, "broker", _broker, BrokerConfig()),
        engine=_opt(m, "engine", _engine, EngineConfig()),
        store=_opt(m, "store", _store, StoreConfig()),
        metrics=_opt(m, "metrics", _metrics, MetricsConfig()),
        logging=_opt(m, "logging", _logging, LoggingConfig()),
        tokens=_opt(m, "tokens", _tokens, TokensConfig()),
    )


def _tokens(node: _Node) -> TokensConfig:
    m = node.mapping(("renew_before_s", "store_path", "auth_url"))
    d = TokensConfig()
    return TokensConfig(
        renew_before_s=_opt(
            m, "renew_before_s", lambda n: n.number(positive=True), d.renew_before_s
        ),
        store_path=_opt(m, "store_path", lambda n: n.text(), d.store_path),
        auth_url=_opt(m, "auth_url", lambda n: n.url(("https", "http")), d.auth_url),
    )


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
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)  # no further: a huge file must not be read in
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(str(path), f"is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(str(path), "is not UTF-8 text") from None
    return parse_config(text, env, source=str(path))
