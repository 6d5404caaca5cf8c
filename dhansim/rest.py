"""The ``/v2`` REST API of the simulator: Dhan's paths, headers, bare JSON bodies and errors.

A middleware wraps every call: journal entry, fault plan (latency, timeout, 5xx, DH-904 storm,
accept-then-drop), auth (``access-token``, and ``client-id`` when sent), the static-IP check of
order writes, per-account rate limits, and the mapping of :class:`SimError` (and of any bug) to
``{errorType, errorCode, errorMessage}``.
A traceback never reaches a client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dhan.codes import DhErrorCode, KillSwitchStatus, LegName, OrderStatus
from dhansim.account import Account
from dhansim.clock import ist_token_validity, mono_ns
from dhansim.controls import check_source, get_ip, parse_ip_request, set_ip
from dhansim.errors import SimError, bad_input, order_error, order_not_found
from dhansim.faults import RestFaults
from dhansim.forever import ForeverOrder, parse_forever_place
from dhansim.orders import Order, order_wire, order_wires, super_order_json, trade_json
from dhansim.pnl_exit import NO_PNL_EXIT, parse_pnl_exit
from dhansim.portfolio import convert_position, margin_calculator, trade_history
from dhansim.quotes import parse_quote_request, quote_data
from dhansim.routing import route, routes_of
from dhansim.validation import (
    parse_json_object,
    parse_modify,
    parse_place,
    parse_super_modify,
    parse_super_place,
)

if TYPE_CHECKING:
    from dhansim.server import SimCore

log = logging.getLogger("dhansim.rest")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Endpoints that count against the order-API rate limits (10/s, 250/min, 1000/h, 7000/day).
ORDER_WRITE_ENDPOINTS = frozenset(
    {
        "POST /orders",
        "PUT /orders/{order_id}",
        "DELETE /orders/{order_id}",
        "POST /orders/slicing",
        "POST /super/orders",
        "PUT /super/orders/{order_id}",
        "DELETE /super/orders/{order_id}/{leg}",
        "DELETE /positions",
        "POST /forever/orders",
        "PUT /forever/orders/{order_id}",
        "DELETE /forever/orders/{order_id}",
    }
)
#: Endpoints that need the account's static IP when ``static_ip`` is on: the order writes, and
#: what Dhan's portal docs also mark (position conversion, kill switch, P&L exit).
STATIC_IP_ENDPOINTS = ORDER_WRITE_ENDPOINTS | frozenset(
    {
        "POST /positions/convert",
        "POST /killswitch",
        "POST /pnlExit",
        "DELETE /pnlExit",
    }
)
#: Per-request storage: the journal entry being filled in, and the authenticated account.
JOURNAL = web.RequestKey("journal", dict[str, Any])
ACCOUNT = web.RequestKey("account", Account)
AUTH_MESSAGE = "Client ID or user generated access token is invalid or expired."
QUOTE_LIMIT = "Too many requests. Further requests may result in the user being blocked."


#: ``json.dumps(data, separators=(",", ":"))`` without building an encoder per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=_COMPACT.encode(data).encode(), status=status, content_type="application/json"
    )


def json_bytes_response(body: bytes, status: int = 200) -> web.Response:
    """An answer whose body is already compact JSON (``json_response``'s encoding)."""
    return web.Response(body=body, status=status, content_type="application/json")


def json_array(items: Iterable[bytes]) -> bytes:
    """The JSON array of already-encoded items, byte for byte what ``json.dumps`` of the list
    with compact separators gives."""
    return b"[" + b",".join(items) + b"]"


def error_response(exc: SimError) -> web.Response:
    return json_response(exc.body(), status=exc.http_status)


def endpoint_of(request: web.Request) -> str:
    """``"METHOD /path-template"`` without ``/v2`` (the key used by faults and the journal)."""
    route = request.match_info.route
    resource = route.resource
    path = resource.canonical if resource is not None else request.path
    if path.startswith("/v2"):
        path = path[3:]
    return f"{request.method} {path}"


class _Endpoints:
    """``endpoint_of`` memoised per (method, route resource): one dict lookup per request.
    A request that matched no route (404/405) has no resource and is worked out each time."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, object], str] = {}

    def of(self, request: web.Request) -> str:
        resource = request.match_info.route.resource
        if resource is None:
            return endpoint_of(request)
        key = (request.method, resource)
        endpoint = self._known.get(key)
        if endpoint is None:
            endpoint = self._known[key] = endpoint_of(request)
        return endpoint


class RestApi:
    """Handlers of ``/v2`` and the middleware around them."""

    def __init__(self, core: SimCore) -> None:
        self.core = core
        self._endpoints = _Endpoints()

    def routes(self) -> list[web.RouteDef]:
        return routes_of(self)

    # --- middleware --------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        t_ns = mono_ns()  # arrival: first thing, before any work on the request
        path = request.path
        if not path.startswith("/v2"):
            return await handler(request)
        endpoint = self._endpoints.of(request)
        entry: dict[str, Any] = {
            "kind": "rest",
            "t_ns": t_ns,
            "account": None,
            "method": request.method,
            "endpoint": endpoint,
            "path": path,
            "remote": request.remote,
            "correlationId": None,
            "orderId": None,
            "status": None,
            "errorCode": None,
            "fault": None,
        }
        request[JOURNAL] = entry
        try:
            faults = self.core.faults.rest_for(endpoint, request.headers.get("client-id"))
            if faults is None:
                return await self._call(request, handler, endpoint, entry)
            return await self._serve_faulty(request, handler, endpoint, entry, faults)
        finally:
            entry["t_done_ns"] = mono_ns()
            self.core.journal.record(entry)

    async def _serve_faulty(
        self,
        request: web.Request,
        handler: Handler,
        endpoint: str,
        entry: dict[str, Any],
        faults: RestFaults,
    ) -> web.StreamResponse:
        """Serve a request that a fault plan covers: latency, then the drawn fault (if any)."""
        core = self.core
        delay_s = core.dice.latency_s(faults)
        if delay_s:
            await asyncio.sleep(delay_s)
        if core.dice.hit(faults.timeout_p):
            entry["fault"] = "timeout"
            if faults.timeout_after_processing:
                await self._call(request, handler, endpoint, entry)
            await asyncio.sleep(faults.timeout_hold_s)
            return self._cut(request, entry)
        if core.dice.hit(faults.error_5xx_p):
            entry["fault"] = "5xx"
            if faults.error_5xx_html:
                entry["status"] = 502
                return web.Response(
                    status=502,
                    text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                    content_type="text/html",
                )
            exc = SimError(DhErrorCode.INTERNAL_SERVER_ERROR, "Internal Server Error")
            return self._error(exc, entry)
        if core.dice.hit(faults.rate_limit_storm_p):
            entry["fault"] = "rate-limit-storm"
            return self._error(
                SimError(DhErrorCode.RATE_LIMIT, "Too many requests. Try again later."), entry
            )
        response = await self._call(request, handler, endpoint, entry)
        if core.dice.hit(faults.accept_then_drop_p):
            entry["fault"] = "accept-then-drop"
            return self._cut(request, entry)
        return response

    def _cut(self, request: web.Request, entry: dict[str, Any]) -> web.StreamResponse:
        """Close the connection with no answer; the client sees a reset / read error."""
        if request.transport is not None:
            request.transport.abort()
        entry["status"] = None
        raise asyncio.CancelledError  # aiohttp drops a cancelled handler silently

    def _error(self, exc: SimError, entry: dict[str, Any]) -> web.Response:
        entry["status"] = exc.http_status
        entry["errorCode"] = exc.code.value
        return error_response(exc)

    async def _call(
        self, request: web.Request, handler: Handler, endpoint: str, entry: dict[str, Any]
    ) -> web.StreamResponse:
        try:
            account = self._authenticate(request)
            entry["account"] = account.client_id
            request[ACCOUNT] = account
            if endpoint in STATIC_IP_ENDPOINTS:
                check_source(account, request.remote, self.core.settings.switches)
            self._rate_limit(account, endpoint)
            response = await handler(request)
        except SimError as exc:
            return self._error(exc, entry)
        except web.HTTPException as exc:
            code = DhErrorCode.INPUT_EXCEPTION
            return self._error(SimError(code, exc.reason, http_status=exc.status), entry)
        except Exception:
            log.exception("simulator bug while serving %s", endpoint)
            exc_ = SimError(DhErrorCode.INTERNAL_SERVER_ERROR, "Internal Server Error")
            return self._error(exc_, entry)
        entry["status"] = response.status
        return response

    def _authenticate(self, request: web.Request) -> Account:
        core = self.core
        token = request.headers.get("access-token", "")
        client_id = request.headers.get("client-id") or request.headers.get("dhanClientId")
        account = core.account_by_token(token) if token else None
        switches = core.settings.switches
        if (
            account is None
            or (client_id is None and switches.require_client_id_header)
            or (client_id is not None and client_id != account.client_id)
        ):
            raise SimError(DhErrorCode.INVALID_AUTHENTICATION, AUTH_MESSAGE)
        if not account.token_live():
            if switches.expired_token_code == "DH-906":
                raise SimError(DhErrorCode.ORDER_ERROR, "Invalid Token", http_status=401)
            raise SimError(DhErrorCode.INVALID_AUTHENTICATION, AUTH_MESSAGE)
        return account

    def _rate_limit(self, account: Account, endpoint: str) -> None:
        switches = self.core.settings.switches
        now_s = time.monotonic()
        if endpoint in ORDER_WRITE_ENDPOINTS:
            if switches.rate_limits:
                full = account.order_limits.try_acquire(now_s)
                if full:
                    raise SimError(
                        DhErrorCode.RATE_LIMIT,
                        f"Too many requests: order rate limit of {full} exceeded",
                    )
        elif switches.read_rate_limit:
            full = account.read_limits.try_acquire(now_s)
            if full:
                raise SimError(
                    DhErrorCode.RATE_LIMIT, f"Too many requests: rate limit of {full} exceeded"
                )

    # --- helpers -----------------------------------------------------------------------------

    def _render(self, o: Order) -> bytes:
        return order_wire(o, mpp_as_limit=self.core.settings.switches.mpp_show_as_limit)

    @staticmethod
    def _note(request: web.Request, o: Order) -> None:
        entry = request[JOURNAL]
        entry["orderId"] = o.order_id
        entry["correlationId"] = o.correlation_id or None

    def _order_answer(self, request: web.Request, o: Order) -> web.Response:
        """``{orderId, orderStatus}`` of a placed or modified order, noted in the journal."""
        self._note(request, o)
        return json_response({"orderId": o.order_id, "orderStatus": o.status.value})

    @staticmethod
    async def _placement(request: web.Request) -> Any:
        """A placement's JSON body; its correlationId is journalled before the body is checked,
        so a refused placement still names the order it was."""
        body = parse_json_object(await request.read())
        if isinstance(body, dict) and isinstance(body.get("correlationId"), str):
            request[JOURNAL]["correlationId"] = body["correlationId"]
        return body

    # --- orders ------------------------------------------------------------------------------

    @route("POST", "/v2/orders")
    async def place_order(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        req = parse_place(await self._placement(request), account.client_id, self.core.master)
        return self._order_answer(request, self.core.exchange.place(account, req))

    @route("POST", "/v2/orders/slicing")
    async def place_slicing(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        body = parse_json_object(await request.read())
        req = parse_place(body, account.client_id, self.core.master)
        request[JOURNAL]["correlationId"] = req.correlation_id or None
        orders = self.core.exchange.place_slices(account, req)
        request[JOURNAL]["orderId"] = ",".join(o.order_id for o in orders)
        return json_response(
            [{"orderId": o.order_id, "orderStatus": o.status.value} for o in orders]
        )

    @route("PUT", "/v2/orders/{order_id}")
    async def modify_order(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        order_id = request.match_info["order_id"]
        request[JOURNAL]["orderId"] = order_id
        req = parse_modify(parse_json_object(await request.read()), account.client_id, order_id)
        o = self.core.exchange.modify(account, order_id, req)
        return self._order_answer(request, o)

    @route("DELETE", "/v2/orders/{order_id}")
    async def cancel_order(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        order_id = request.match_info["order_id"]
        request[JOURNAL]["orderId"] = order_id
        o = self.core.exchange.cancel(account, order_id)
        self._note(request, o)
        if self.core.settings.switches.cancel_empty_body:
            return web.Response(status=202)
        return json_response(
            {"orderId": o.order_id, "orderStatus": OrderStatus.CANCELLED.value}, status=202
        )

    @route("GET", "/v2/orders")
    async def order_book(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        mpp = self.core.settings.switches.mpp_show_as_limit
        book = self.core.exchange.book(account)
        return json_bytes_response(json_array(order_wires(book, mpp_as_limit=mpp)))

    @route("GET", "/v2/orders/{order_id}")
    async def order_by_id(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        o = self.core.exchange.order(account, request.match_info["order_id"])
        self._note(request, o)
        return json_bytes_response(self._render(o))

    @route("GET", "/v2/orders/external/{correlation_id}")
    async def order_by_correlation(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        cid = request.match_info["correlation_id"]
        request[JOURNAL]["correlationId"] = cid
        orders = self.core.exchange.by_correlation(account, cid)
        if not orders:
            raise order_not_found("Order not found for the correlationId")
        if self.core.settings.switches.external_cid_array:
            return json_bytes_response(json_array([self._render(o) for o in orders]))
        latest = orders[-1]
        request[JOURNAL]["orderId"] = latest.order_id
        return json_bytes_response(self._render(latest))

    # --- trades / portfolio / funds ------------------------------------------------------------

    @route("GET", "/v2/trades")
    @route("GET", "/v2/trades/")
    async def trade_book(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        mpp = self.core.settings.switches.mpp_show_as_limit
        return json_response([trade_json(t, mpp_as_limit=mpp) for t in account.trades])

    @route("GET", "/v2/trades/{order_id}")
    async def trades_of_order(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        order_id = request.match_info["order_id"]
        self.core.exchange.order(account, order_id)  # 404 for an unknown order
        trades = account.trades_by_order.get(order_id, [])
        mpp = self.core.settings.switches.mpp_show_as_limit
        return json_response([trade_json(t, mpp_as_limit=mpp) for t in trades])

    @route("GET", "/v2/positions")
    async def positions(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        market = self.core.market
        carried = self.core.settings.switches.holdings_sale_view == "carried"
        return json_response(
            [
                p.to_json(account.client_id, market.ltp(p.instrument), holdings_as_carried=carried)
                for p in account.positions.values()
            ]
        )

    @route("DELETE", "/v2/positions")
    async def exit_all(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        exits = self.core.exchange.exit_all(account)
        return json_response(
            {
                "status": "SUCCESS",
                "message": "All open orders cancelled and positions exited",
                "orderIds": [o.order_id for o in exits],
            },
            status=202,
        )

    @route("GET", "/v2/RenewToken")
    async def renew_token(self, request: web.Request) -> web.Response:
        """``GET /RenewToken``: a new 24 h token replaces (and so expires) the current one."""
        account: Account = request[ACCOUNT]
        token = self.core.renew_token(account)
        return json_response(
            {
                "dhanClientId": account.client_id,
                "accessToken": token,
                "expiryTime": account.token_life.expiry_time_text(),
            }
        )

    @route("POST", "/app/generateAccessToken")
    async def generate_access_token(self, request: web.Request) -> web.Response:
        """``POST /app/generateAccessToken?dhanClientId=&pin=&totp=`` (Dhan's auth host): a
        fresh token from the account's PIN and TOTP code; the old token stops working.

        PIN and TOTP arrive in the query string, as Dhan documents: this path is outside
        ``/v2``, so the request journal never records it."""
        query = request.query
        account = self.core.generate_token(
            query.get("dhanClientId", ""), query.get("pin", ""), query.get("totp", "")
        )
        if account is None:
            return error_response(SimError(DhErrorCode.INVALID_AUTHENTICATION, AUTH_MESSAGE))
        return json_response(
            {
                "dhanClientId": account.client_id,
                "dhanClientName": f"SIM {account.client_id}",
                "dhanClientUcc": f"SIM{account.client_id[-6:]}",
                "givenPowerOfAttorney": False,
                "accessToken": account.access_token,
                "expiryTime": account.token_life.expiry_time_text(),
            }
        )

    @route("GET", "/api-data/api-scrip-master-detailed.csv")
    async def scrip_master(self, request: web.Request) -> web.Response:
        """The instrument master as Dhan's detailed scrip master CSV (Dhan serves it, without
        auth, from ``https://images.dhan.co/api-data/``), with a ``FREEZE_QTY`` column."""
        return web.Response(
            text=self.core.master.scrip_master_csv(), content_type="text/csv", charset="utf-8"
        )

    @route("GET", "/v2/holdings")
    async def holdings(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        return json_response(account.holdings_json(self.core.market.ltp_by_key))

    @route("GET", "/v2/fundlimit")
    async def fund_limit(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        return json_response(account.fund_limit_json())

    @route("GET", "/v2/profile")
    async def profile(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        return json_response(
            {
                "dhanClientId": account.client_id,
                "tokenValidity": account.token_life.validity_text(),
                "activeSegment": "Equity, Derivative, Currency, Commodity",
                "ddpi": "Active",
                "mtf": "Active",
                "dataPlan": "Active",
                "dataValidity": ist_token_validity(24 * 30),
            }
        )

    @route("GET", "/v2/killswitch")
    async def kill_switch_status(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        status = KillSwitchStatus.ACTIVATE if account.kill_switch else KillSwitchStatus.DEACTIVATE
        return json_response({"dhanClientId": account.client_id, "killSwitchStatus": status.value})

    @route("POST", "/v2/killswitch")
    async def kill_switch(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        raw = request.query.get("killSwitchStatus", "")
        try:
            wanted = KillSwitchStatus(raw.upper())
        except ValueError:
            raise bad_input("killSwitchStatus must be ACTIVATE or DEACTIVATE") from None
        if wanted is KillSwitchStatus.ACTIVATE:
            if any(o.is_open for o in account.orders.values()):
                raise order_error("Kill switch cannot be activated while orders are pending")
            if any(p.open_qty for p in account.positions.values()):
                raise order_error("Kill switch cannot be activated while positions are open")
            account.kill_switch = True
            text = "Kill Switch has been successfully activated"
        else:
            account.kill_switch = False
            text = "Kill Switch has been successfully deactivated"
        return json_response({"dhanClientId": account.client_id, "killSwitchStatus": text})

    # --- super orders ----------------------------------------------------------------------------

    @route("POST", "/v2/super/orders")
    async def place_super(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        req = parse_super_place(await self._placement(request), account.client_id, self.core.master)
        return self._order_answer(request, self.core.exchange.place_super(account, req))

    @route("GET", "/v2/super/orders")
    async def super_book(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        mpp = self.core.settings.switches.mpp_show_as_limit
        market = self.core.market
        return json_response(
            [
                super_order_json(o, market.ltp(o.instrument), mpp_as_limit=mpp)
                for o in self.core.exchange.super_book(account)
            ]
        )

    @route("PUT", "/v2/super/orders/{order_id}")
    async def modify_super(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        order_id = request.match_info["order_id"]
        request[JOURNAL]["orderId"] = order_id
        req = parse_super_modify(
            parse_json_object(await request.read()), account.client_id, order_id
        )
        o = self.core.exchange.modify_super(account, order_id, req)
        return self._order_answer(request, o)

    @route("DELETE", "/v2/super/orders/{order_id}/{leg}")
    async def cancel_super_leg(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        order_id = request.match_info["order_id"]
        request[JOURNAL]["orderId"] = order_id
        try:
            leg = LegName(request.match_info["leg"])
        except ValueError:
            raise bad_input("order-leg must be ENTRY_LEG, TARGET_LEG or STOP_LOSS_LEG") from None
        o = self.core.exchange.cancel_super_leg(account, order_id, leg)
        self._note(request, o)
        return json_response(
            {"orderId": o.order_id, "orderStatus": OrderStatus.CANCELLED.value}, status=202
        )

    # --- static IP -------------------------------------------------------------------------------

    @route("POST", "/v2/ip/setIP")
    async def set_ip(self, request: web.Request) -> web.Response:
        return await self._register_ip(request, modify=False)

    @route("PUT", "/v2/ip/modifyIP")
    async def modify_ip(self, request: web.Request) -> web.Response:
        return await self._register_ip(request, modify=True)

    async def _register_ip(self, request: web.Request, *, modify: bool) -> web.Response:
        account: Account = request[ACCOUNT]
        flag, ip = parse_ip_request(parse_json_object(await request.read()), account.client_id)
        accounts = self.core.exchange.accounts.values()
        switches = self.core.settings.switches
        return json_response(set_ip(account, accounts, flag, ip, switches, modify=modify))

    @route("GET", "/v2/ip/getIP")
    async def get_ip(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        return json_response(get_ip(account, self.core.settings.switches))

    # --- P&L based exit -------------------------------------------------------------------------

    @route("POST", "/v2/pnlExit")
    async def set_pnl_exit(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        config = parse_pnl_exit(parse_json_object(await request.read()), account.client_id)
        self.core.exchange.set_pnl_exit(account, config)
        return json_response(
            {"pnlExitStatus": "ACTIVE", "message": "P&L based exit configured successfully"}
        )

    @route("GET", "/v2/pnlExit")
    async def get_pnl_exit(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        config = account.pnl_exit
        return json_response(NO_PNL_EXIT if config is None else config.to_json())

    @route("DELETE", "/v2/pnlExit")
    async def stop_pnl_exit(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        self.core.exchange.set_pnl_exit(account, None)
        return json_response(
            {"pnlExitStatus": "DISABLED", "message": "P&L based exit stopped successfully"}
        )

    # --- forever orders --------------------------------------------------------------------------

    @staticmethod
    def _forever_answer(fo: ForeverOrder, status: int = 200) -> web.Response:
        # Dhan's samples answer an armed forever order as PENDING (its list says CONFIRM).
        shown = OrderStatus.PENDING if fo.is_armed else fo.status
        return json_response({"orderId": fo.order_id, "orderStatus": shown.value}, status=status)

    @route("POST", "/v2/forever/orders")
    async def place_forever(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        body = parse_json_object(await request.read())
        exchange = self.core.exchange
        fo = parse_forever_place(body, account.client_id, self.core.master, "")
        fo.order_id = exchange.new_forever_id()
        request[JOURNAL]["correlationId"] = fo.correlation_id or None
        request[JOURNAL]["orderId"] = fo.order_id
        exchange.place_forever(account, fo)
        return self._forever_answer(fo)

    @route("GET", "/v2/forever/orders")
    @route("GET", "/v2/forever/all")
    async def forever_book(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        records = [r for fo in self.core.exchange.forever_book(account) for r in fo.records()]
        return json_response(records)

    @route("PUT", "/v2/forever/orders/{order_id}")
    async def modify_forever(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        order_id = request.match_info["order_id"]
        request[JOURNAL]["orderId"] = order_id
        body = parse_json_object(await request.read())
        return self._forever_answer(self.core.exchange.modify_forever(account, order_id, body))

    @route("DELETE", "/v2/forever/orders/{order_id}")
    async def cancel_forever(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        order_id = request.match_info["order_id"]
        request[JOURNAL]["orderId"] = order_id
        fo = self.core.exchange.cancel_forever(account, order_id)
        return self._forever_answer(fo, status=202)

    # --- market quote --------------------------------------------------------------------------

    @route("POST", "/v2/marketfeed/ltp")
    async def quote_ltp(self, request: web.Request) -> web.Response:
        return await self._quote(request, "ltp")

    @route("POST", "/v2/marketfeed/ohlc")
    async def quote_ohlc(self, request: web.Request) -> web.Response:
        return await self._quote(request, "ohlc")

    @route("POST", "/v2/marketfeed/quote")
    async def quote_full(self, request: web.Request) -> web.Response:
        return await self._quote(request, "quote")

    async def _quote(self, request: web.Request, mode: str) -> web.Response:
        account: Account = request[ACCOUNT]
        if request.headers.get("client-id") is None:
            # Dhan documents the client-id header as required for Market Quote.
            raise SimError(DhErrorCode.INVALID_AUTHENTICATION, AUTH_MESSAGE)
        limited = self.core.settings.switches.rate_limits
        if limited and account.quote_limits.try_acquire(time.monotonic()):
            request[JOURNAL]["errorCode"] = "805"  # the data APIs' code and body
            return json_response({"status": "failed", "data": {"805": QUOTE_LIMIT}}, 429)
        instruments = parse_quote_request(parse_json_object(await request.read()), self.core.master)
        return json_response(quote_data(mode, instruments, self.core.market))

    # --- conversion, margin calculator, trade history ---------------------------------------

    @route("POST", "/v2/positions/convert")
    async def convert_position(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        convert_position(account, parse_json_object(await request.read()), self.core.master)
        return web.Response(status=202)  # Dhan: 202 Accepted, no body

    @route("POST", "/v2/margincalculator")
    async def margin_calculator(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        body = parse_json_object(await request.read())
        core = self.core
        return json_response(margin_calculator(account, body, core.master, core.market))

    @route("GET", "/v2/trades/{from_date}/{to_date}/{page}")
    async def trade_history(self, request: web.Request) -> web.Response:
        account: Account = request[ACCOUNT]
        m = request.match_info
        mpp = self.core.settings.switches.mpp_show_as_limit
        records = trade_history(
            account.trades, m["from_date"], m["to_date"], m["page"], mpp_as_limit=mpp
        )
        return json_response(records)
