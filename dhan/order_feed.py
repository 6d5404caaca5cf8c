"""Client of Dhan's Live Order Update socket: login, parse frames, keep ping/pong liveness.

``OrderFeed.run()`` connects, sends the login frame and hands each ``order_alert`` to the
caller as a typed ``OrderUpdate`` until ``close()`` or until the connection dies, which it
reports by raising. It never reconnects: the leader-feed actor's supervisor restarts it with
backoff and reconciles over REST, because the socket has no replay.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import websocket

from dhan import errors
from dhan.codes import (
    LEG_FROM_FEED,
    LEG_TO_FEED,
    ORDER_TYPE_FROM_FEED,
    PRODUCT_FROM_FEED,
    SEGMENT_FROM_FEED,
    SUPER_ORDER_REMARK,
    TXN_FROM_FEED,
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
    status_from_feed,
)
from dhan.errors import DhanError
from dhan.models import to_float, to_int, to_str

log = logging.getLogger(__name__)

#: Longest excerpt of a malformed frame written to the log.
FRAME_EXCERPT_CHARS = 200


# --- errors -------------------------------------------------------------------------------


class MalformedFrame(ValueError):
    """A frame that is not a well-formed order alert. ``OrderFeed`` counts and skips these."""


class FeedError(DhanError):
    """The order-update connection failed; the owner decides whether and when to reconnect."""


class FeedConnectError(FeedError):
    """Could not connect (refused, DNS, TLS, timeout, or a non-101 handshake status)."""


class FeedDisconnected(FeedError):
    """The server closed or reset the connection.

    ``connected_for_s`` is the time since the login frame was sent: Dhan answers a bad token
    by resetting the socket a few milliseconds after login, so a tiny value suggests an auth
    problem (check the token with ``GET /profile``).
    """

    def __init__(
        self, message: str, *, connected_for_s: float, close_code: int | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.connected_for_s = connected_for_s
        self.close_code = close_code


class FeedLivenessLost(FeedError):
    """No pong arrived within ``ping_timeout_s`` of a ping: the connection is dead or stuck."""


# --- the update record --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One ``order_alert``, with the socket's codes mapped to the REST enums.

    Codes the client does not know become ``None`` (``raw`` keeps the frame); the owner
    confirms anything surprising with ``GET /orders/{order_no}``.
    """

    order_no: str
    status: OrderStatus  # PART_TRADED when open with 0 < traded_qty < quantity
    raw_status: str  # as sent, e.g. "Cancelled"
    quantity: int
    traded_qty: int
    remaining_quantity: int
    exch_order_no: str | None = None
    client_id: str | None = None
    exchange_segment: ExchangeSegment | None = None
    security_id: str | None = None
    product_type: ProductType | None = None
    transaction_type: TransactionType | None = None
    order_type: OrderType | None = None
    validity: Validity | None = None
    price: float = 0.0
    trigger_price: float = 0.0
    traded_price: float = 0.0  # latest fill
    avg_traded_price: float = 0.0
    leg_name: LegName | None = None  # from LegNo: 1 entry, 2 stop-loss, 3 target
    parent_order_no: str | None = None  # AlgoOrdNo: the entry leg of a BO/CO
    correlation_id: str | None = None
    remarks: str | None = None
    is_super: bool = False  # Remarks == "Super Order"
    last_updated_time: str | None = None
    order_date_time: str | None = None
    reason_description: str | None = None
    source: str | None = None  # "P" = placed through the API
    is_amo: bool = False  # OffMktFlag == "1"
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def missing_fields(self) -> tuple[str, ...]:
        """Fields a copy needs that this frame lacked or spelled in a way we do not know.

        Non-empty means: confirm the order with ``GET /orders/{order_no}`` before acting.
        """
        needed = (
            "exchange_segment",
            "security_id",
            "product_type",
            "transaction_type",
            "order_type",
        )
        return tuple(name for name in needed if getattr(self, name) is None)

    @property
    def dedupe_key(self) -> str:
        """Identical for a re-sent copy of the same event, different for any real change."""
        leg_no = LEG_TO_FEED.get(self.leg_name) if self.leg_name else ""
        return "|".join(
            str(part)
            for part in (
                self.order_no,
                leg_no,
                self.status.value,
                self.traded_qty,
                self.quantity,
                self.price,
                self.trigger_price,
                self.last_updated_time or "",
            )
        )


def _case_insensitive(d: Mapping[str, Any]) -> dict[str, Any]:
    """Keys lower-cased; when ``Status`` and ``status`` both exist, the PascalCase one wins."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if not isinstance(key, str):
            continue
        low = key.lower()
        if low not in out or key[:1].isupper():
            out[low] = value
    return out


def _code(value: Any, one_letter: Mapping[str, Any], enum: type[Any]) -> Any:
    """A socket code (``"I"``, ``"LMT"``) or its REST spelling (``"INTRADAY"``), else None."""
    text = to_str(value)
    if text is None:
        return None
    text = text.strip().upper()
    if text in one_letter:
        return one_letter[text]
    try:
        return enum(text)
    except ValueError:
        return None


def _segment(exchange: Any, segment: Any) -> ExchangeSegment | None:
    exch = (to_str(exchange) or "").strip().upper()
    seg = (to_str(segment) or "").strip().upper()
    found = SEGMENT_FROM_FEED.get((exch, seg))
    if found is not None:
        return found
    try:
        return ExchangeSegment(seg)  # tolerate a REST-style segment name
    except ValueError:
        return None


def _leg(value: Any) -> LegName | None:
    try:
        number = to_int(value)
    except ValueError:
        text = (to_str(value) or "").strip().upper()
        return LegName(text) if text in LegName.__members__ and text != "NA" else None
    return LEG_FROM_FEED.get(number) if number is not None else None


def _entry_order_no(value: Any) -> str | None:
    """``AlgoOrdNo``: typed a number by Dhan's table (a string or null in samples); 0 names no
    entry leg."""
    text = to_str(value)
    return None if text is None or text.strip() == "0" else text


#: ``"TradedQty":0`` (a number or a string) and an open, unfilled status, as Dhan writes them.
_NOTHING_TRADED = re.compile(rb'"TradedQty"\s*:\s*"?0"?\s*[,}]')
_WAITING = re.compile(rb'"Status"\s*:\s*"(?:transit|pending)"', re.IGNORECASE)


def unfilled_and_open(data: str | bytes) -> bool:
    """Pure, before any parse: True when a frame says plainly that its order is TRANSIT or
    PENDING with nothing traded -- a frame a follower's socket drops anyway (it settles fills
    and ends only), spared its JSON parse (most of a socket thread's CPU). False when unsure:
    the frame is then parsed as any other."""
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    return _NOTHING_TRADED.search(raw) is not None and _WAITING.search(raw) is not None


def parse_frame(text: str | bytes) -> OrderUpdate | None:
    """Parse one socket frame: an ``OrderUpdate``, ``None`` for other ``Type``s.

    Keys are matched case-insensitively and title-case statuses are accepted. Raises
    :class:`MalformedFrame` for anything that is not a usable order alert.
    """
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        msg = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedFrame(f"not JSON: {exc}") from None
    except RecursionError:
        raise MalformedFrame("not JSON: nested too deeply") from None
    if not isinstance(msg, dict):
        raise MalformedFrame(f"expected a JSON object, got {type(msg).__name__}")
    top = _case_insensitive(msg)
    kind = top.get("type")
    if not isinstance(kind, str):
        raise MalformedFrame("no Type")
    if kind.strip().lower() != "order_alert":
        return None
    data = top.get("data")
    if not isinstance(data, dict):
        raise MalformedFrame("order_alert without a Data object")
    d = _case_insensitive(data)
    try:
        return _update_from(d, data)
    except ValueError as exc:
        if isinstance(exc, MalformedFrame):
            raise
        raise MalformedFrame(str(exc)) from None


def _update_from(d: dict[str, Any], data: dict[str, Any]) -> OrderUpdate:
    def need(key: str) -> str:
        value = to_str(d.get(key))
        if value is None:
            raise MalformedFrame(f"order_alert without {key}")
        return value

    order_no = need("orderno")
    raw_status = need("status")
    status = status_from_feed(raw_status)
    quantity = to_int(d.get("quantity")) or 0
    traded = to_int(d.get("tradedqty")) or 0
    remaining = to_int(d.get("remainingquantity"))
    if status.is_open and 0 < traded < quantity:
        status = OrderStatus.PART_TRADED
    remarks = to_str(d.get("remarks"))
    return OrderUpdate(
        order_no=order_no,
        status=status,
        raw_status=raw_status,
        quantity=quantity,
        traded_qty=traded,
        remaining_quantity=quantity - traded if remaining is None else remaining,
        exch_order_no=to_str(d.get("exchorderno")),
        client_id=to_str(d.get("clientid")),
        exchange_segment=_segment(d.get("exchange"), d.get("segment")),
        security_id=to_str(d.get("securityid")),
        product_type=_code(d.get("product"), PRODUCT_FROM_FEED, ProductType),
        transaction_type=_code(d.get("txntype"), TXN_FROM_FEED, TransactionType),
        order_type=_code(d.get("ordertype"), ORDER_TYPE_FROM_FEED, OrderType),
        validity=_code(d.get("validity"), {}, Validity),
        price=to_float(d.get("price")) or 0.0,
        trigger_price=to_float(d.get("triggerprice")) or 0.0,
        traded_price=to_float(d.get("tradedprice")) or 0.0,
        avg_traded_price=to_float(d.get("avgtradedprice")) or 0.0,
        leg_name=_leg(d.get("legno")),
        parent_order_no=_entry_order_no(d.get("algoordno")),
        correlation_id=to_str(d.get("correlationid")),
        remarks=remarks,
        is_super=(remarks or "").strip().lower() == SUPER_ORDER_REMARK.lower(),
        last_updated_time=to_str(d.get("lastupdatedtime")),
        order_date_time=to_str(d.get("orderdatetime")),
        reason_description=to_str(d.get("reasondescription")),
        source=to_str(d.get("source")),
        is_amo=(to_str(d.get("offmktflag")) or "").strip() == "1",
        raw=dict(data),
    )


# --- the connection -----------------------------------------------------------------------


@dataclass(slots=True)
class FeedStats:
    """Counters of one ``OrderFeed`` (written by the ``run()`` thread only)."""

    frames: int = 0  # data frames received
    updates: int = 0  # order alerts delivered to on_update
    ignored: int = 0  # well-formed frames of another Type
    malformed: int = 0  # frames skipped as MalformedFrame
    pings_sent: int = 0
    pongs: int = 0
    last_pong_rtt_ms: float | None = None


class OrderFeed:
    """One order-update connection for one account (SELF login).

    ``run()`` blocks the calling thread; ``close()`` may be called from any thread and is
    final (a closed feed's ``run()`` returns at once). Pings go out every ``ping_interval_s``
    and a pong must come back within ``ping_timeout_s``; silence between data frames is
    normal and never ends the connection.
    """

    #: Upper bound on one blocking receive, i.e. on how long ``close()`` takes to be noticed
    #: (the default of ``poll_s``). Each bound reached is a wake-up of the thread: with one
    #: socket per follower, 50 sockets at 0.1 s cost ~3 % of a core idle.
    POLL_S = 0.1

    def __init__(
        self,
        *,
        url: str,
        client_id: str,
        access_token: str,
        ping_interval_s: float = 10.0,
        ping_timeout_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        poll_s: float = POLL_S,
        skip_raw: Callable[[bytes], bool] | None = None,
    ) -> None:
        """``skip_raw(frame)``: True drops a frame unparsed (counted as ignored)."""
        if ping_interval_s <= 0 or ping_timeout_s <= 0 or connect_timeout_s <= 0 or poll_s <= 0:
            raise ValueError("intervals and timeouts must be > 0")
        if not client_id or not access_token:
            raise ValueError("client_id and access_token must be non-empty")
        self.url = url
        self.client_id = client_id
        self._token = access_token
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.poll_s = poll_s
        self.stats = FeedStats()
        self._skip_raw = skip_raw
        self._on_malformed: Callable[[], None] | None = None
        self._closing = threading.Event()
        self._running = threading.Lock()

    def __repr__(self) -> str:
        return f"OrderFeed(url={self.url!r}, client_id={self.client_id!r})"

    def login_frame(self) -> str:
        """The exact login message (it carries the token: never log it)."""
        return json.dumps(
            {
                "LoginReq": {"MsgCode": 42, "ClientId": self.client_id, "Token": self._token},
                "UserType": "SELF",
            },
            separators=(",", ":"),
        )

    def close(self) -> None:
        """Make ``run()`` return promptly (within about ``poll_s``); thread-safe, idempotent."""
        self._closing.set()

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    def run(
        self,
        on_update: Callable[[OrderUpdate], None],
        on_connected: Callable[[], None] | None = None,
        on_malformed: Callable[[], None] | None = None,
    ) -> None:
        """Connect, log in, call ``on_connected()``, then deliver updates until ``close()``.
        ``on_malformed()`` is called for each frame skipped as malformed (an update lost:
        the caller may read the book).

        Returns normally only after ``close()``. Raises ``FeedConnectError``,
        ``FeedDisconnected`` or ``FeedLivenessLost`` when the connection fails, and whatever
        ``on_update`` / ``on_connected`` raise (a caller's bug must not be hidden).
        """
        if not self._running.acquire(blocking=False):
            raise RuntimeError("OrderFeed.run() is already running")
        try:
            if self._closing.is_set():
                return
            ws = self._connect()
            try:
                self._on_malformed = on_malformed
                self._serve(ws, on_update, on_connected)
            finally:
                self._shut(ws)
        finally:
            self._running.release()

    def _connect(self) -> websocket.WebSocket:
        ws = websocket.WebSocket(enable_multithread=True, skip_utf8_validation=True)
        try:
            ws.connect(self.url, timeout=self.connect_timeout_s)
        except websocket.WebSocketBadStatusException as exc:
            raise FeedConnectError(
                self._redact(f"handshake refused: {exc}"),
                http_status=exc.status_code,
                endpoint=self.url,
            ) from None
        except (websocket.WebSocketException, OSError) as exc:
            raise FeedConnectError(
                self._redact(f"cannot connect: {type(exc).__name__}: {exc}"), endpoint=self.url
            ) from None
        log.info("order feed connected to %s as %s", self.url, self.client_id)
        return ws

    def _serve(
        self,
        ws: websocket.WebSocket,
        on_update: Callable[[OrderUpdate], None],
        on_connected: Callable[[], None] | None,
    ) -> None:
        if self._closing.is_set():  # close() came while we were connecting
            return
        logged_in_at = time.monotonic()
        try:
            ws.send(self.login_frame())
        except (websocket.WebSocketException, OSError) as exc:
            raise self._disconnected(
                f"login not sent: {type(exc).__name__}", logged_in_at
            ) from None
        if on_connected is not None:
            on_connected()
        next_ping_at = time.monotonic() + self.ping_interval_s
        ping_sent_at: float | None = None
        while not self._closing.is_set():
            now = time.monotonic()
            if ping_sent_at is not None and now - ping_sent_at > self.ping_timeout_s:
                raise FeedLivenessLost(
                    f"no pong within {self.ping_timeout_s:g} s of a ping", endpoint=self.url
                )
            if ping_sent_at is None and now >= next_ping_at:
                try:
                    ws.settimeout(self.ping_timeout_s)  # a send may block on a full buffer
                    ws.ping(str(self.stats.pings_sent))
                except (websocket.WebSocketException, OSError) as exc:
                    raise self._disconnected(
                        f"ping failed: {type(exc).__name__}", logged_in_at
                    ) from None
                ping_sent_at = now
                self.stats.pings_sent += 1
            deadline = ping_sent_at + self.ping_timeout_s if ping_sent_at else next_ping_at
            ws.settimeout(min(max(deadline - now, 0.001), self.poll_s))
            try:
                opcode, frame = ws.recv_data_frame(control_frame=True)
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError) as exc:
                if self._closing.is_set():
                    return
                raise self._disconnected(
                    f"connection lost: {type(exc).__name__}: {exc}", logged_in_at
                ) from None
            if opcode == websocket.ABNF.OPCODE_PONG:
                self.stats.pongs += 1
                if ping_sent_at is not None:
                    received_at = time.monotonic()
                    self.stats.last_pong_rtt_ms = (received_at - ping_sent_at) * 1000.0
                    next_ping_at = ping_sent_at + self.ping_interval_s
                    ping_sent_at = None
            elif opcode == websocket.ABNF.OPCODE_CLOSE:
                if self._closing.is_set():
                    return
                code, reason = _close_status(frame.data)
                raise self._disconnected(
                    f"server closed the connection (code={code} reason={reason!r})",
                    logged_in_at,
                    close_code=code,
                )
            elif opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                self._deliver(frame.data, on_update)

    def _deliver(self, data: bytes, on_update: Callable[[OrderUpdate], None]) -> None:
        self.stats.frames += 1
        if self._skip_raw is not None and self._skip_raw(data):
            self.stats.ignored += 1
            return
        try:
            update = parse_frame(data)
        except MalformedFrame as exc:
            self.stats.malformed += 1
            excerpt = self._excerpt(data, FRAME_EXCERPT_CHARS)
            log.warning("order feed: skipped a malformed frame (%s): %r", exc, excerpt)
            if self._on_malformed is not None:
                self._on_malformed()
            return
        if update is None:
            self.stats.ignored += 1
            excerpt = self._excerpt(data, 80)
            log.info("order feed: ignored a frame of another Type: %r", excerpt)
            return
        self.stats.updates += 1
        on_update(update)

    def _disconnected(
        self, message: str, logged_in_at: float, close_code: int | None = None
    ) -> FeedDisconnected:
        connected_for_s = time.monotonic() - logged_in_at
        return FeedDisconnected(
            self._redact(f"{message}; {connected_for_s:.3f} s after login"),
            connected_for_s=connected_for_s,
            close_code=close_code,
            endpoint=self.url,
        )

    def _shut(self, ws: websocket.WebSocket) -> None:
        """Close politely when we chose to, abruptly when the connection already failed."""
        try:
            if self._closing.is_set() and ws.connected:
                ws.close(timeout=1.0)
            else:
                ws.shutdown()
        except (websocket.WebSocketException, OSError) as exc:
            log.debug("order feed: error while closing: %s", type(exc).__name__)
        log.info("order feed to %s closed", self.url)

    def _redact(self, text: str) -> str:
        return errors.redact(text, [self._token])

    def _excerpt(self, data: bytes, chars: int) -> str:
        """The start of a frame for a log line: redacted first, then cut (a cut through the
        token would leave its prefix behind)."""
        return self._redact(data.decode("utf-8", errors="replace"))[:chars]


def _close_status(payload: bytes) -> tuple[int | None, str]:
    if len(payload) < 2:
        return None, ""
    return int.from_bytes(payload[:2], "big"), payload[2:].decode("utf-8", errors="replace")
