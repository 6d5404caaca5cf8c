"""The admin API under ``/sim/`` (no auth, loopback only): accounts, prices, switches, faults,
the journal, end of day. Tests, benchmarks and the demo drive the simulator through it
(``dhansim.admin.AdminClient`` wraps it). Errors are ``{"error": "..."}`` with 400 / 403 / 404.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dhan.codes import ProductType
from dhansim.account import Account
from dhansim.errors import SimError
from dhansim.faults import FaultPlan, parse_fault_plan
from dhansim.instruments import Instrument
from dhansim.orders import OrderKind, order_json, super_order_json
from dhansim.rest import json_response
from dhansim.routing import route, routes_of
from dhansim.switches import PartialFills
from dhansim.tokens import DEFAULT_VALIDITY_S, TokenLife, totp_secret_ok

if TYPE_CHECKING:
    from dhansim.server import SimCore

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AdminError(Exception):
    """A bad admin request (answered 400, or the given status)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False


class AdminApi:
    """Handlers of ``/sim/*``."""

    def __init__(self, core: SimCore) -> None:
        self.core = core

    def routes(self) -> list[web.RouteDef]:
        return routes_of(self)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/sim/"):
            return await handler(request)
        if not _is_loopback(request.remote):
            return json_response({"error": "the admin API answers loopback clients only"}, 403)
        try:
            return await handler(request)
        except AdminError as exc:
            return json_response({"error": str(exc)}, exc.status)
        except SimError as exc:
            return json_response({"error": exc.message, **exc.body()}, exc.http_status)
        except (ValueError, TypeError, OverflowError) as exc:
            # Bad values in an admin body (e.g. "freezeQty": [1], "ltp": 1e400 as an integer)
            # are the caller's mistake: a 400 naming it, never a 500.
            return json_response({"error": str(exc)}, 400)

    @staticmethod
    async def _json(request: web.Request) -> Any:
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise AdminError("body is not valid JSON") from None

    async def _object(self, request: web.Request) -> dict[str, Any]:
        body = await self._json(request)
        if not isinstance(body, dict):
            raise AdminError("body must be a JSON object")
        return body

    def _account(self, request: web.Request) -> Account:
        client_id = request.match_info["client_id"]
        account = self.core.exchange.accounts.get(client_id)
        if account is None:
            raise AdminError(f"no account {client_id}", 404)
        return account

    def _instrument(self, request: web.Request) -> Instrument:
        segment = request.match_info["segment"]
        security_id = request.match_info["security_id"]
        inst = self.core.master.get(segment, security_id)
        if inst is None:
            raise AdminError(f"no instrument {segment}/{security_id}", 404)
        return inst

    # --- handlers ------------------------------------------------------------------------------

    @route("GET", "/sim/health")
    async def health(self, request: web.Request) -> web.Response:
        return json_response({"ok": True, "accounts": len(self.core.exchange.accounts)})

    @route("POST", "/sim/accounts")
    async def create_account(self, request: web.Request) -> web.Response:
        body = await self._object(request)
        client_id = body.get("dhanClientId")
        token = body.get("accessToken")
        balance = body.get("availableBalance", 10_000_000.0)
        holdings = body.get("holdings", [])
        if not isinstance(client_id, str) or not client_id:
            raise AdminError("dhanClientId (a non-empty string) is required")
        if not isinstance(token, str) or not token:
            raise AdminError("accessToken (a non-empty string) is required")
        if isinstance(balance, bool) or not isinstance(balance, int | float) or balance < 0:
            raise AdminError("availableBalance must be a number >= 0")
        if not isinstance(holdings, list) or not all(isinstance(h, dict) for h in holdings):
            raise AdminError("holdings must be a list of objects")
        positions = body.get("positions", [])
        if not isinstance(positions, list):
            raise AdminError("positions must be a list of objects")
        life = _token_life(body)
        if client_id in self.core.exchange.accounts:
            raise AdminError(f"account {client_id} exists", 409)
        carried = [self._carried(item) for item in positions]  # all checked before creating
        account = self.core.create_account(client_id, token, float(balance), holdings, life)
        for inst, product, qty, price in carried:
            _seed(account, inst, product, qty, price)
        return json_response(account.summary_json(), 201)

    @route("POST", "/sim/accounts/{client_id}/positions")
    async def seed_positions(self, request: web.Request) -> web.Response:
        """Positions carried from an earlier day (one object or an array): MARGIN / MTF /
        INTRADAY as ``carryForward*`` quantities of ``GET /positions``; CNC as holdings."""
        account = self._account(request)
        body = await self._json(request)
        items = body if isinstance(body, list) else [body]
        carried = [self._carried(item) for item in items]
        for inst, product, qty, price in carried:
            _seed(account, inst, product, qty, price, check=True)
        ltp = self.core.market.ltp
        as_carried = self.core.settings.switches.holdings_sale_view == "carried"
        return json_response(
            {
                "positions": [
                    p.to_json(account.client_id, ltp(p.instrument), holdings_as_carried=as_carried)
                    for p in account.positions.values()
                ],
                "holdings": account.holdings_json(self.core.market.ltp_by_key),
            },
            201,
        )

    def _carried(self, item: Any) -> tuple[Instrument, ProductType, int, float]:
        """One carried position of the admin body: ``{"exchangeSegment", "securityId",
        "productType", "quantity"`` (> 0 long, < 0 short) ``, "price"`` (its average)``}``."""
        if not isinstance(item, dict):
            raise AdminError("each position must be a JSON object")
        inst = self.core.master.get(
            str(item.get("exchangeSegment", "")), str(item.get("securityId", ""))
        )
        if inst is None:
            raise AdminError("exchangeSegment + securityId must name an instrument of the master")
        try:
            product = ProductType(str(item.get("productType", "")))
        except ValueError:
            raise AdminError("productType must be CNC, MTF, MARGIN or INTRADAY") from None
        if product in (ProductType.CO, ProductType.BO):
            raise AdminError("CO and BO positions are intraday only: they cannot be carried")
        if product in (ProductType.CNC, ProductType.MTF) and not inst.is_equity:
            raise AdminError(f"{product.value} is for equity segments only")
        if product is ProductType.MARGIN and inst.is_equity:
            raise AdminError("MARGIN is not for equity segments")
        qty, price = item.get("quantity"), item.get("price")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty == 0:
            raise AdminError("quantity must be a non-zero integer (negative: a short)")
        if qty % inst.lot_size:
            raise AdminError(f"quantity must be a multiple of the lot size {inst.lot_size}")
        if product is ProductType.CNC and qty < 0:
            raise AdminError("CNC carries as holdings: quantity must be positive")
        if isinstance(price, bool) or not isinstance(price, int | float) or not 0 < price < 1e9:
            raise AdminError("price (the average cost) must be a number > 0")
        return inst, product, qty, float(price)

    @route("GET", "/sim/accounts")
    async def list_accounts(self, request: web.Request) -> web.Response:
        accounts = self.core.exchange.accounts.values()
        return json_response([a.summary_json() for a in accounts])

    @route("POST", "/sim/accounts/{client_id}/expire-token")
    async def expire_token(self, request: web.Request) -> web.Response:
        account = self._account(request)
        account.token_expired = True
        return json_response(account.summary_json())

    @route("POST", "/sim/accounts/{client_id}/token")
    async def rotate_token(self, request: web.Request) -> web.Response:
        account = self._account(request)
        body = await self._object(request)
        token = body.get("accessToken")
        if not isinstance(token, str) or not token:
            raise AdminError("accessToken (a non-empty string) is required")
        self.core.rotate_token(account, token)
        return json_response(account.summary_json())

    @route("GET", "/sim/accounts/{client_id}/orders")
    async def account_orders(self, request: web.Request) -> web.Response:
        account = self._account(request)
        switches = self.core.settings.switches
        out = []
        for o in account.orders.values():
            record = order_json(o, mpp_as_limit=switches.mpp_show_as_limit)
            record.update(
                {
                    "kind": o.kind.value,
                    "key": o.key,
                    "parentOrderId": o.parent_id or None,
                    "modifications": o.modifications,
                    "triggered": o.triggered,
                    "requestedOrderType": o.order_type.value,
                    "placedBeforeTrade": o.placed_before_trade,
                }
            )
            if o.kind is OrderKind.SUPER_ENTRY:
                ltp = self.core.market.ltp(o.instrument)
                record["superOrder"] = super_order_json(o, ltp, mpp_as_limit=False)
            out.append(record)
        return json_response(out)

    @route("PUT", "/sim/ltp/{segment}/{security_id}")
    async def set_ltp(self, request: web.Request) -> web.Response:
        inst = self._instrument(request)
        body = await self._object(request)
        ltp = body.get("ltp")
        if isinstance(ltp, bool) or not isinstance(ltp, int | float) or not 0 < ltp < 1e12:
            raise AdminError("ltp must be a number > 0 (and below 1e12)")  # NaN fails too
        pin = body.get("pin", True)
        liquid = body.get("liquid")
        if not isinstance(pin, bool) or (liquid is not None and not isinstance(liquid, bool)):
            raise AdminError("pin and liquid take true/false")
        self.core.market.set(inst, float(ltp), pin=pin, liquid=liquid)
        self.core.exchange.on_ltp(inst)
        return json_response(self.core.market.snapshot(inst))

    @route("GET", "/sim/ltp/{segment}/{security_id}")
    async def get_ltp(self, request: web.Request) -> web.Response:
        return json_response(self.core.market.snapshot(self._instrument(request)))

    @route("POST", "/sim/instruments")
    async def add_instrument(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        items = body if isinstance(body, list) else [body]
        added = []
        for item in items:
            if not isinstance(item, dict):
                raise AdminError("each instrument must be a JSON object")
            inst = Instrument.from_json(item)
            self.core.master.add(inst)
            added.append(inst.to_json())
        return json_response(added, 201)

    @route("GET", "/sim/instruments")
    async def list_instruments(self, request: web.Request) -> web.Response:
        return json_response([inst.to_json() for inst in self.core.master])

    @route("PUT", "/sim/partial-fills")
    async def set_partial_fills(self, request: web.Request) -> web.Response:
        body = await self._object(request)
        self.core.settings.partial_fills = PartialFills.from_mapping(body)
        return await self.get_partial_fills(request)

    @route("GET", "/sim/partial-fills")
    async def get_partial_fills(self, request: web.Request) -> web.Response:
        pf = self.core.settings.partial_fills
        return json_response(
            {"enabled": pf.enabled, "parts": pf.parts, "interval_ms": pf.interval_ms}
        )

    @route("PUT", "/sim/switches")
    async def set_switches(self, request: web.Request) -> web.Response:
        body = await self._object(request)
        self.core.settings.switches = self.core.settings.switches.updated(body)
        return json_response(self.core.settings.switches.as_dict())

    @route("GET", "/sim/switches")
    async def get_switches(self, request: web.Request) -> web.Response:
        return json_response(self.core.settings.switches.as_dict())

    @route("PUT", "/sim/faults")
    async def set_faults(self, request: web.Request) -> web.Response:
        plan = parse_fault_plan(await self._json(request))
        self.core.set_faults(plan)
        return json_response(plan.to_json())

    @route("GET", "/sim/faults")
    async def get_faults(self, request: web.Request) -> web.Response:
        return json_response(self.core.faults.to_json())

    @route("DELETE", "/sim/faults")
    async def clear_faults(self, request: web.Request) -> web.Response:
        self.core.set_faults(FaultPlan())
        return json_response(self.core.faults.to_json())

    @route("POST", "/sim/order-update/drop")
    async def drop_sockets(self, request: web.Request) -> web.Response:
        return json_response({"dropped": self.core.feed.drop_all()})

    @route("GET", "/sim/order-update/connections")
    async def connections(self, request: web.Request) -> web.Response:
        account = request.query.get("account")
        return json_response({"connections": self.core.feed.connection_count(account)})

    @route("GET", "/sim/journal")
    async def journal(self, request: web.Request) -> web.Response:
        q = request.query

        def number(name: str) -> int | None:
            raw = q.get(name)
            if raw is None or raw == "":
                return None
            try:
                return int(raw)
            except ValueError:
                raise AdminError(f"{name} must be an integer") from None

        entries = self.core.journal.query(
            since_ns=number("since_ns"),
            since_seq=number("since_seq"),
            kind=q.get("kind") or None,
            account=q.get("account") or None,
            limit=number("limit"),
        )
        return json_response(
            {
                "entries": entries,
                "dropped": self.core.journal.dropped,
                "size": self.core.journal.size,
            }
        )

    @route("DELETE", "/sim/journal")
    async def clear_journal(self, request: web.Request) -> web.Response:
        self.core.journal.clear()
        return json_response({"cleared": True})

    @route("POST", "/sim/end-of-day")
    async def end_of_day(self, request: web.Request) -> web.Response:
        return json_response({"expired": self.core.exchange.end_of_day()})

    @route("POST", "/sim/orders/{order_id}/fill")
    async def fill_order(self, request: web.Request) -> web.Response:
        body = await self._object(request)
        order_id = request.match_info["order_id"]
        leg = body.get("legName")
        o = self.core.exchange.any_order(order_id)
        if leg:
            matches = [x for x in o.legs.values() if x.leg_name and x.leg_name.value == leg]
            if not matches:
                raise AdminError(f"order {order_id} has no active {leg}", 404)
            o = matches[0]
        qty = body.get("quantity", o.remaining)
        price = body.get("price")
        if isinstance(qty, bool) or not isinstance(qty, int):
            raise AdminError("quantity must be an integer")
        if price is not None and (isinstance(price, bool) or not isinstance(price, int | float)):
            raise AdminError("price must be a number")
        self.core.exchange.fill_now(o, qty, float(price) if price is not None else None)
        return json_response(order_json(o, mpp_as_limit=False))


def _seed(
    account: Account,
    inst: Instrument,
    product: ProductType,
    qty: int,
    price: float,
    *,
    check: bool = False,
) -> None:
    """Give ``account`` a carried position (a holding for CNC). ``check``: refuse one the
    account already has (an account being created has none)."""
    key = (*inst.key, product.value)
    if product is ProductType.CNC:
        if check and (account.holding_of(inst)[0] or key in account.positions):
            raise AdminError(f"account already holds or traded {inst.symbol} CNC today", 409)
        account.holdings.append(
            {
                "exchange": inst.segment.value.partition("_")[0],
                "tradingSymbol": inst.symbol,
                "securityId": inst.security_id,
                "isin": inst.isin,
                "totalQty": qty,
                "dpQty": qty,
                "t1Qty": 0,
                "availableQty": qty,
                "collateralQty": 0,
                "avgCostPrice": price,
            }
        )
        return
    if check and key in account.positions:
        raise AdminError(f"account already has a {product.value} position in {inst.symbol}", 409)
    account.position(inst, product).carry(qty, price)


def _token_life(body: dict[str, Any]) -> TokenLife:
    """The account's token lifetime and PIN + TOTP login from ``POST /sim/accounts``."""
    validity = body.get("tokenValiditySeconds", DEFAULT_VALIDITY_S)
    pin = body.get("pin", "")
    secret = body.get("totpSecret", "")
    if isinstance(validity, bool) or not isinstance(validity, int | float) or not validity > 0:
        raise AdminError("tokenValiditySeconds must be a number > 0")
    if not isinstance(pin, str) or not isinstance(secret, str):
        raise AdminError("pin and totpSecret must be strings")
    if bool(pin) != bool(secret):
        raise AdminError("pin and totpSecret go together (both or neither)")
    if secret and not totp_secret_ok(secret):
        raise AdminError("totpSecret must be a base32 TOTP secret")
    return TokenLife(validity_s=float(validity), pin=pin, totp_secret=secret)
