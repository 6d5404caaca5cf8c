"""DhanHQ v2 REST client: one per account, on its own keep-alive connections.

Requests go out on one ``dhan.transport`` per client, chosen once at construction: direct
(``http.client``) or through the account's HTTP(S) proxy (urllib3). Every call either returns a
typed record from ``dhan.models`` or raises a ``dhan.errors`` exception that says whether the
request may have reached Dhan (``NotSent`` vs ``OutcomeUnknown`` vs ``Rejected``). Nothing is
retried here: a silent retry of a POST can duplicate an order, so retry policy belongs to the
caller, which knows the correlationId.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from dhan import errors
from dhan.auth import IssuedToken
from dhan.codes import KillSwitchStatus, LegName
from dhan.errors import BadResponse, DhanError, NotFound, NotSent, OutcomeUnknown
from dhan.instrument import ClientInstrument
from dhan.models import (
    ConvertRequest,
    FundLimits,
    Holding,
    ModifyRequest,
    Order,
    OrderAck,
    OrderRequest,
    Position,
    Profile,
    SuperModifyRequest,
    SuperOrder,
    SuperOrderRequest,
    Trade,
)
from dhan.transport import Transport, TransportError, for_origin

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest excerpt of a non-JSON error body kept in an exception message.
ERROR_EXCERPT_CHARS = 200


def _version() -> str:
    try:
        return metadata.version("copytrader")
    except metadata.PackageNotFoundError:
        return "0"


DEFAULT_USER_AGENT = f"copytrader/{_version()}"


#: Headers every request carries besides the account's, as ``requests`` sent them before this
#: client moved to urllib3 and http.client (a server sees the same request it always saw).
_WIRE_HEADERS = {"Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}


#: How long a request refused during a token renewal waits for the renewed token.
_RENEWAL_WAIT_S = 10.0


class DhanClient:
    """A DhanHQ v2 REST client for one account. Thread-safe; no retries.

    ``base_url`` is ``https://api.dhan.co/v2`` or the simulator's. Timeouts are per request
    phase: ``connect_timeout_s`` to establish the connection, ``read_timeout_s`` between
    bytes of the answer. ``source_address`` binds the account's local IP; ``proxy`` sends its
    traffic through an HTTP(S) proxy (``http://user:password@host:port`` authenticates).
    Environment proxy variables and ``.netrc`` are ignored, so one account's traffic can never
    leave through another account's egress. Redirects are not followed.

    ``transport``: send on this transport (bound to ``base_url``'s origin) instead of the one
    built from the egress settings (timeouts, ``source_address``, ``proxy``, ``pool_maxsize``,
    then unused). The client closes it on :meth:`close`.
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        access_token: str,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 5.0,
        source_address: str | None = None,
        proxy: str | None = None,
        pool_maxsize: int = 4,
        user_agent: str = DEFAULT_USER_AGENT,
        transport: Transport | None = None,
    ) -> None:
        if not client_id:
            raise ValueError("client_id must be non-empty")
        if not access_token:
            raise ValueError("access_token must be non-empty")
        if connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError("timeouts must be > 0")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._token = access_token
        self._token_lock = threading.Lock()
        #: notified when the token changes; ``_renewing``: a renewal has expired (or is about
        #: to expire) the token in use and its successor is not here yet
        self._token_changed = threading.Condition(self._token_lock)
        self._renewing = False
        self._user_agent = user_agent
        parts = urlsplit(self.base_url)
        self._base_path = parts.path
        if transport is None:  # the direct or the proxy path, chosen here once
            transport = for_origin(
                self.base_url,
                connect_timeout_s=connect_timeout_s,
                read_timeout_s=read_timeout_s,
                source_address=source_address,
                proxy=proxy,
                pool_maxsize=pool_maxsize,
            )
        #: where every request goes
        self._transport: Transport = transport
        #: the last book's orders by their raw wire content (``list_orders``)
        self._book_memo: dict[tuple[tuple[str, Any], ...], Order] = {}
        #: profiling hook (``dhan.instrument``), told of each request; None: none
        self.instrument: ClientInstrument | None = None

    def __repr__(self) -> str:
        return f"DhanClient(base_url={self.base_url!r}, client_id={self.client_id!r})"

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def access_token(self) -> str:
        """The token in use (a secret: for the order feed's login, never for a log line)."""
        with self._token_lock:
            return self._token

    def update_token(self, access_token: str) -> None:
        """Use ``access_token`` from the next request on (SIGHUP token reload)."""
        if not access_token:
            raise ValueError("access_token must be non-empty")
        with self._token_lock:
            self._token = access_token
            self._renewing = False
            self._token_changed.notify_all()

    def close(self) -> None:
        """Close pooled connections. Calls after ``close()`` open new ones."""
        self._transport.close()

    def __enter__(self) -> DhanClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- orders -------------------------------------------------------------------------

    def place_order(
        self, req: OrderRequest, *, on_sent: Callable[[], None] | None = None
    ) -> OrderAck:
        """``POST /orders``. Check ``order_status``: a 200 can carry ``REJECTED``.

        ``on_sent``: called once the request has left, before the answer is awaited (through
        a proxy: once the answer is in).
        """
        reply = self._request(
            "POST", "/orders", req.to_wire(), cid=req.correlation_id, on_sent=on_sent
        )
        return reply.one(OrderAck.from_wire)

    def modify_order(self, order_id: str, req: ModifyRequest) -> OrderAck:
        """``PUT /orders/{order_id}``."""
        path = f"/orders/{_segment(order_id)}"
        payload = {"orderId": order_id, **req.to_wire()}
        return self._request("PUT", path, payload).one(OrderAck.from_wire)

    def cancel_order(self, order_id: str) -> OrderAck | None:
        """``DELETE /orders/{order_id}``. ``None`` when Dhan answers 202 with no body."""
        reply = self._request("DELETE", f"/orders/{_segment(order_id)}")
        return None if reply.body is None else reply.one(OrderAck.from_wire)

    def get_order(self, order_id: str) -> Order:
        """``GET /orders/{order_id}``. Raises ``NotFound`` when Dhan does not know it."""
        reply = self._request("GET", f"/orders/{_segment(order_id)}")
        if isinstance(reply.body, list) and len(reply.body) == 1:
            reply.body = reply.body[0]
        return reply.one(Order.from_wire)

    def get_order_by_correlation_id(self, cid: str) -> Order | None:
        """``GET /orders/external/{cid}``: the order carrying ``cid``, or ``None``.

        ``None`` means Dhan answered "not found" (404, or an empty 2xx body / ``[]`` / ``{}``).
        When several orders carry the id (slicing), the most recently updated one is returned.
        Other errors are raised: an unresolved lookup must not be mistaken for "absent".
        """
        try:
            reply = self._request("GET", f"/orders/external/{_segment(cid)}", cid=cid)
        except NotFound:
            return None
        body = reply.body
        if body is None or body == [] or body == {}:
            return None
        if isinstance(body, list):
            orders = reply.many(Order.from_wire)
            return max(orders, key=lambda o: (o.update_time or o.create_time or "", o.order_id))
        return reply.one(Order.from_wire)

    def list_orders(self, select: Callable[[list[Any]], list[Any]] | None = None) -> list[Order]:
        """``GET /orders``: today's order book.

        An order whose wire object is the same as in the previous book is not parsed again
        (``Order`` is immutable and a pure function of it): the book holds every order of the
        day, most of them settled, and parsing all of it on every read was the engine's biggest
        CPU cost after the leader's fills. ``select`` picks the wire objects wanted (from the
        JSON array, before parsing): the others are neither parsed nor remembered.
        """
        memo, fresh = self._book_memo, {}

        def parse(item: Any, endpoint: str, where: str) -> Order:
            if not isinstance(item, dict):
                return Order.from_wire(item, endpoint, where)  # says what is wrong with it
            key = _wire_key(item)
            order = memo.get(key)
            if order is None:
                order = Order.from_wire(item, endpoint, where)
            fresh[key] = order
            return order

        reply = self._request("GET", "/orders")
        if select is not None and isinstance(reply.body, list):
            reply.body = select(reply.body)
        orders = reply.many(parse)
        self._book_memo = fresh
        return orders

    def forget_book(self) -> None:
        """Drop what ``list_orders`` remembers of the last book: the next read parses afresh."""
        self._book_memo = {}

    @property
    def remembered_orders(self) -> int:
        """Orders of the last ``list_orders`` kept for the next one (memory; for benchmarks)."""
        return len(self._book_memo)

    def trades(self, order_id: str | None = None) -> list[Trade]:
        """``GET /trades`` (today's trade book) or ``GET /trades/{order_id}`` (its fills)."""
        path = "/trades" if order_id is None else f"/trades/{_segment(order_id)}"
        reply = self._request("GET", path)
        if isinstance(reply.body, dict) and reply.body:
            reply.body = [reply.body]  # the documented sample of /trades/{id} is one object
        return reply.many(Trade.from_wire)

    # --- portfolio, funds, profile -----------------------------------------------------

    def positions(self) -> list[Position]:
        """``GET /positions``."""
        return self._request("GET", "/positions").many(Position.from_wire)

    def holdings(self) -> list[Holding]:
        """``GET /holdings``: delivery shares of earlier days."""
        return self._request("GET", "/holdings").many(Holding.from_wire)

    def convert_position(self, req: ConvertRequest) -> None:
        """``POST /positions/convert`` (202, no body). A refusal raises as any order write."""
        self._request("POST", "/positions/convert", req.to_wire())

    def fund_limits(self) -> FundLimits:
        """``GET /fundlimit``."""
        return self._request("GET", "/fundlimit").one(FundLimits.from_wire)

    def profile(self) -> Profile:
        """``GET /profile``: a cheap token check."""
        return self._request("GET", "/profile").one(Profile.from_wire)

    def renew_token(self) -> IssuedToken:
        """``GET /RenewToken``: a new 24 h token for this account; Dhan expires the current one
        at once. The client keeps using the old token until :meth:`update_token` (the caller
        persists the new one first, so a crash in between cannot lose it)."""
        with self._token_lock:
            self._renewing = True  # a request refused meanwhile waits for the new token
        try:
            reply = self._request("GET", "/RenewToken", headers={"dhanClientId": self.client_id})
            return IssuedToken.from_wire(reply.body, reply.endpoint)
        except BaseException:
            self.token_change_ended()
            raise

    def token_change_ended(self) -> None:
        """No new token is coming (a renewal failed, or its token was not taken): requests
        refused as unauthenticated fail at once again."""
        with self._token_lock:
            self._renewing = False
            self._token_changed.notify_all()

    # --- super orders -------------------------------------------------------------------

    def place_super_order(
        self, req: SuperOrderRequest, *, on_sent: Callable[[], None] | None = None
    ) -> OrderAck:
        """``POST /super/orders`` (``on_sent``: as for :meth:`place_order`)."""
        reply = self._request(
            "POST", "/super/orders", req.to_wire(), cid=req.correlation_id, on_sent=on_sent
        )
        return reply.one(OrderAck.from_wire)

    def modify_super_order(self, order_id: str, req: SuperModifyRequest) -> OrderAck:
        """``PUT /super/orders/{order_id}`` (one leg)."""
        path = f"/super/orders/{_segment(order_id)}"
        payload = {"orderId": order_id, **req.to_wire()}
        return self._request("PUT", path, payload).one(OrderAck.from_wire)

    def exit_all_positions(self) -> None:
        """``DELETE /positions`` ("Exit All"): Dhan cancels every open order of today and
        squares off every position with its own MARKET orders; 202, asynchronous."""
        self._request("DELETE", "/positions")

    def kill_switch_active(self) -> bool:
        """``GET /killswitch``: True while the account's kill switch is on (no trading today)."""
        body = self._request("GET", "/killswitch").body
        return isinstance(body, dict) and str(body.get("killSwitchStatus", "")).upper() == (
            KillSwitchStatus.ACTIVATE.value
        )

    def activate_kill_switch(self) -> str:
        """``POST /killswitch?killSwitchStatus=ACTIVATE``: trading off for the rest of the day.
        Dhan accepts it only with no open position and no pending order; its answer's text."""
        body = self._request("POST", "/killswitch?killSwitchStatus=ACTIVATE").body
        return str(body.get("killSwitchStatus", "")) if isinstance(body, dict) else ""

    def cancel_super_order(self, order_id: str, leg: LegName) -> OrderAck | None:
        """``DELETE /super/orders/{order_id}/{leg}``; cancelling ENTRY_LEG cancels all legs."""
        reply = self._request("DELETE", f"/super/orders/{_segment(order_id)}/{LegName(leg).value}")
        return None if reply.body is None else reply.one(OrderAck.from_wire)

    def list_super_orders(
        self, select: Callable[[list[Any]], list[Any]] | None = None
    ) -> list[SuperOrder]:
        """``GET /super/orders``; ``select`` picks the wire objects to parse (see list_orders)."""
        reply = self._request("GET", "/super/orders")
        if select is not None and isinstance(reply.body, list):
            reply.body = select(reply.body)
        return reply.many(SuperOrder.from_wire)

    # --- the one place that talks HTTP ------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        cid: str | None = None,
        on_sent: Callable[[], None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> _Reply:
        """Send one request; return its 2xx answer (body ``None`` when empty) or raise.

        The one place a request starts and ends. ``on_sent``: called once the request has been
        written (direct) or answered (proxy); see ``dhan.transport``. A request refused as
        unauthenticated while its token was being replaced (a renewal expires the old token at
        once) is sent once more with the new token: Dhan refused it, so nothing was done, and a
        resend carries the same correlationId. One refused while a renewal is under way waits
        (at most ``_RENEWAL_WAIT_S``) for the renewed token."""
        with self._token_lock:
            token = self._token
        try:
            return self._request_with(token, method, path, payload, cid, on_sent, headers)
        except errors.AuthError:
            with self._token_lock:
                if self._token == token and self._renewing and path != "/RenewToken":
                    self._token_changed.wait_for(
                        lambda: self._token != token or not self._renewing, _RENEWAL_WAIT_S
                    )
                current = self._token
            if current == token:
                raise
            return self._request_with(current, method, path, payload, cid, on_sent, headers)

    def _request_with(
        self,
        token: str,
        method: str,
        path: str,
        payload: dict[str, Any] | None,
        cid: str | None,
        on_sent: Callable[[], None] | None,
        headers: dict[str, str] | None,
    ) -> _Reply:
        endpoint = f"{method} {path}"
        extra = headers
        headers = {
            "access-token": token,
            "client-id": self.client_id,
            "Accept": "application/json",
            "User-Agent": self._user_agent,
            **_WIRE_HEADERS,
        }
        if extra:
            headers.update(extra)
        data: bytes | None = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps({"dhanClientId": self.client_id, **payload}).encode()
        elif method != "GET":
            headers["Content-Length"] = "0"  # a bodiless DELETE, framed as requests framed it
        instrument = self.instrument  # profiling hook (dhan.instrument)
        if instrument is not None:
            instrument.request_started(self.client_id, method, path, cid)
        started = time.perf_counter()
        status: int | str = "-"
        try:
            try:
                answer = self._transport.request(
                    method, self._base_path + path, headers, data, on_sent
                )
            except TransportError as exc:
                status = type(exc).__name__
                raise _transport_error(exc, endpoint, cid, token) from None
            status = answer.status
            body = self._parse(status, answer.reason, answer.body, endpoint, cid, token)
            return _Reply(status, body, endpoint, cid)
        finally:
            if instrument is not None:
                instrument.request_finished(self.client_id, method, path, cid, status)
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            log.debug(
                "%s -> %s in %.1f ms%s", endpoint, status, elapsed_ms, f" cid={cid}" if cid else ""
            )

    def _parse(
        self, status: int, reason: str, raw: bytes, endpoint: str, cid: str | None, token: str
    ) -> Any:
        if 200 <= status < 300:
            if not raw.strip():
                return None
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
                raise BadResponse(
                    f"HTTP {status} with a body that is not JSON: {_excerpt(raw, token)!r}",
                    http_status=status,
                    endpoint=endpoint,
                    correlation_id=cid,
                ) from None
            if isinstance(body, dict) and "errorCode" in body and "orderId" not in body:
                # An error body under a 2xx status: trust the errorCode, not the status.
                raise self._error_from_body(body, status, endpoint, cid, token)
            return body
        try:
            body = json.loads(raw) if raw.strip() else None
        except (ValueError, RecursionError):
            body = None
        if isinstance(body, dict):
            raise self._error_from_body(body, status, endpoint, cid, token)
        excerpt = _excerpt(raw, token)
        message = f"HTTP {status} {reason}".strip()
        if excerpt:
            message += f": {excerpt}"
        raise errors.classify(
            http_status=status, code=None, message=message, endpoint=endpoint, correlation_id=cid
        )

    def _error_from_body(
        self, body: dict[str, Any], status: int, endpoint: str, cid: str | None, token: str
    ) -> DhanError:
        code = body.get("errorCode")
        message = body.get("errorMessage") or body.get("errorType") or ""
        data = body.get("data")
        if code is None and isinstance(data, dict) and len(data) == 1:
            # data-API form: {"status":"failed","data":{"805":"Too many requests..."}}
            ((code, message),) = data.items()
        if code is None and not message:
            # redact before cutting: a cut through the token would leave its prefix behind
            message = errors.redact(json.dumps(body), [token])[:ERROR_EXCERPT_CHARS]
        return errors.classify(
            http_status=status,
            code=str(code) if code is not None else None,
            message=errors.redact(str(message), [token]),
            endpoint=endpoint,
            correlation_id=cid,
        )


class _Reply:
    """A 2xx answer, shaped into typed records by ``one()`` / ``many()``.

    A body that does not parse raises ``BadResponse`` carrying this answer's HTTP status,
    endpoint and correlationId, like every other ``DhanError``.
    """

    __slots__ = ("body", "cid", "endpoint", "status")

    def __init__(self, status: int, body: Any, endpoint: str, cid: str | None) -> None:
        self.status = status
        self.body = body
        self.endpoint = endpoint
        self.cid = cid

    def one(self, parse: Callable[[Any, str], T]) -> T:
        try:
            if self.body is None:
                raise BadResponse("empty body where a JSON object was expected")
            return parse(self.body, self.endpoint)
        except BadResponse as exc:
            raise self._located(exc) from None

    def many(self, parse: Callable[[Any, str, str], T]) -> list[T]:
        body = self.body
        try:
            if body is None or body == {}:
                return []
            if not isinstance(body, list):
                raise BadResponse(f"expected a JSON array, got {type(body).__name__}")
            return [parse(item, self.endpoint, f"[{i}]") for i, item in enumerate(body)]
        except BadResponse as exc:
            raise self._located(exc) from None

    def _located(self, exc: BadResponse) -> BadResponse:
        exc.http_status = self.status
        exc.endpoint = self.endpoint
        if self.cid is not None:
            exc.correlation_id = self.cid
        return exc


def _wire_key(item: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A JSON object as a hashable value: equal keys, equal objects (nested values as text)."""
    key = tuple(item.items())
    try:
        hash(key)
    except TypeError:  # a nested object or array (a field added by Dhan, say)
        return tuple(
            (
                k,
                (type(v).__name__, json.dumps(v, sort_keys=True))
                if isinstance(v, dict | list)
                else v,
            )
            for k, v in item.items()
        )
    return key


def _transport_error(exc: TransportError, endpoint: str, cid: str | None, token: str) -> DhanError:
    """A transport's failure as the client's error: the transport decided whether it was sent.

    Its message quotes no header value nor a proxy credential; the token is scrubbed again
    all the same (an error path, so the cost does not matter).
    """
    detail = errors.redact(str(exc), [token])
    if exc.sent:
        return OutcomeUnknown(
            f"no definite answer ({detail})", endpoint=endpoint, correlation_id=cid
        )
    return NotSent(f"request not sent ({detail})", endpoint=endpoint, correlation_id=cid)


def _segment(value: str) -> str:
    """``value`` as one URL path segment (ids come from the wire and from config)."""
    if not value:
        raise ValueError("an id in a URL path must be non-empty")
    return quote(value, safe="")


def _excerpt(raw: bytes, token: str) -> str:
    text = " ".join(raw.decode("utf-8", errors="replace").split())
    text = errors.redact(text, [token])
    if len(text) > ERROR_EXCERPT_CHARS:
        text = text[:ERROR_EXCERPT_CHARS] + "..."
    return text
