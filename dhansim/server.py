"""Assembly and lifecycle of one simulator: the core objects, the aiohttp app on one port, and
the two ways to run it -- in a background thread (:class:`Simulator`, :func:`running`) for tests
and the embedded default, or in the foreground until SIGINT/SIGTERM (:func:`serve_forever`).

Several simulators can run in one process: all state hangs off a :class:`SimCore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from dhansim.account import Account
from dhansim.admin import AdminClient
from dhansim.admin_api import AdminApi
from dhansim.exchange import Exchange
from dhansim.faults import FaultDice, FaultPlan
from dhansim.feed import OrderFeed
from dhansim.frames import order_alert
from dhansim.instruments import InstrumentMaster
from dhansim.journal import DEFAULT_JOURNAL_SIZE, Journal
from dhansim.market import Market
from dhansim.orders import Order
from dhansim.rest import Handler, RestApi
from dhansim.switches import LiveSettings, Switches
from dhansim.tokens import TokenLife

log = logging.getLogger("dhansim")

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class SimCore:
    """Every piece of state of one simulator; built on (and used only from) its event loop."""

    def __init__(self, *, seed: int, switches: Switches, journal_size: int) -> None:
        self.seed = seed
        self.settings = LiveSettings(switches=switches)
        self.master = InstrumentMaster()
        self.market = Market(self.master, random.Random(seed))
        self.dice = FaultDice(random.Random(seed * 1_000_003 + 17))
        self.journal = Journal(journal_size)
        self.faults = FaultPlan()
        self._tokens: dict[str, Account] = {}
        self.feed = OrderFeed(
            self.settings, self.journal, self.dice, self._token_ok, self._frame_of
        )
        self.exchange = Exchange(self.master, self.market, self.settings, self.feed.publish)

    def _frame_of(self, order: Order) -> dict[str, Any]:
        return order_alert(order, self.settings.switches, self.market.ltp(order.instrument))

    def _token_ok(self, client_id: str, token: str) -> bool:
        account = self._tokens.get(token)
        return account is not None and account.client_id == client_id and account.token_live()

    def account_by_token(self, token: str) -> Account | None:
        return self._tokens.get(token)

    def create_account(
        self,
        client_id: str,
        token: str,
        balance: float,
        holdings: list[dict[str, Any]],
        life: TokenLife | None = None,
    ) -> Account:
        if token in self._tokens:
            raise ValueError("accessToken is already used by another account")
        account = Account(client_id, token, balance, holdings=list(holdings))
        if life is not None:
            account.token_life = life
        self.exchange.accounts[client_id] = account
        self._tokens[token] = account
        return account

    def rotate_token(self, account: Account, token: str) -> None:
        """A new token replaces the old one (Dhan keeps one active token per account)."""
        owner = self._tokens.get(token)
        if owner is not None and owner is not account:
            raise ValueError("accessToken is already used by another account")
        self._tokens.pop(account.access_token, None)
        account.access_token = token
        account.token_expired = False
        account.token_life.reissue()  # every token of the account lives as long from its issue
        self._tokens[token] = account

    def renew_token(self, account: Account) -> str:
        """Mint a fresh random token for ``account`` (the old one stops working)."""
        token = f"sim-{secrets.token_urlsafe(24)}"
        self.rotate_token(account, token)
        return token

    def generate_token(self, client_id: str, pin: str, totp: str) -> Account | None:
        """PIN + TOTP login: a fresh token for the account (the old one stops working), or
        None when the account is unknown, has no PIN/TOTP set, or either does not match."""
        account = self.exchange.accounts.get(client_id)
        if account is None or not account.token_life.login_ok(pin, totp):
            return None
        self.renew_token(account)
        return account

    def set_faults(self, plan: FaultPlan) -> None:
        self.faults = plan
        self.feed.apply_faults(plan)

    async def random_walk(self) -> None:
        """Move unpinned prices every ``walk_interval_ms`` while ``random_walk`` is on."""
        while True:
            switches = self.settings.switches
            await asyncio.sleep(max(switches.walk_interval_ms, 10.0) / 1000.0)
            switches = self.settings.switches
            if switches.random_walk and switches.walk_volatility > 0:
                for inst in self.market.walk(switches.walk_volatility):
                    self.exchange.on_ltp(inst)


def build_app(core: SimCore) -> web.Application:
    rest = RestApi(core)
    admin = AdminApi(core)

    @web.middleware
    async def by_prefix(request: web.Request, handler: Handler) -> web.StreamResponse:
        # One middleware layer that hands each request to its API's own middleware (each also
        # passes through paths that are not its own), instead of stacking both on every call.
        if request.path.startswith("/sim/"):
            return await admin.middleware(request, handler)
        return await rest.middleware(request, handler)

    app = web.Application(middlewares=[by_prefix])
    app.add_routes(rest.routes())
    app.add_routes(admin.routes())
    app.router.add_get("/order-update", core.feed.handle)
    app.router.add_get("/order-update/", core.feed.handle)
    return app


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class Simulator:
    """One simulator on one port. ``start()`` runs it in a background thread with its own loop."""

    def __init__(
        self,
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        journal_size: int = DEFAULT_JOURNAL_SIZE,
        **switches: Any,
    ) -> None:
        self.seed = seed
        self.host = host
        self._requested_port = port
        self._journal_size = journal_size
        self._switches = Switches().updated(switches)
        self.port = 0
        self.core: SimCore | None = None
        self._runner: web.AppRunner | None = None
        self._walker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._admin: AdminClient | None = None

    # --- URLs ------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def rest_url(self) -> str:
        """The ``dhanhq`` SDK's ``base_url`` form: ``http://HOST:PORT/v2``."""
        return f"{self.base_url}/v2"

    @property
    def order_feed_url(self) -> str:
        return f"{self.base_url.replace('http://', 'ws://')}/order-update"

    @property
    def instruments_url(self) -> str:
        """The master as Dhan's detailed scrip master CSV (``broker.instruments_url``)."""
        return f"{self.base_url}/api-data/api-scrip-master-detailed.csv"

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self.base_url)
        return self._admin

    # --- async lifecycle (shared by the thread runner and the CLI) -----------------------------

    async def startup(self) -> None:
        self.core = SimCore(
            seed=self.seed, switches=self._switches, journal_size=self._journal_size
        )
        app = build_app(self.core)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = _listen(self.host, self._requested_port)
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        self._walker = asyncio.create_task(self.core.random_walk())

    async def cleanup(self) -> None:
        if self._walker is not None:
            self._walker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._walker
        if self.core is not None:
            await self.core.feed.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- thread runner ---------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        self._thread = threading.Thread(target=self._run, name=f"dhansim-{id(self)}", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("simulator did not start in time")
        if self._start_error is not None:
            raise RuntimeError(f"simulator failed to start: {self._start_error}")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.startup())
        except Exception as exc:
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.cleanup())
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
        if self._thread is None or self._loop is None:
            return
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_TIMEOUT_S)
        if self._thread.is_alive():
            raise RuntimeError("simulator thread did not stop in time")
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(
    seed: int = 0, host: str = "127.0.0.1", port: int = 0, **switches: Any
) -> Iterator[Simulator]:
    """Run a simulator in a background thread for the ``with`` block; returns once listening."""
    sim = Simulator(seed=seed, host=host, port=port, **switches)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


async def serve_forever(sim: Simulator) -> None:
    """Run ``sim`` on the current loop until SIGINT or SIGTERM."""
    await sim.startup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("dhansim listening: REST %s  order-update %s", sim.rest_url, sim.order_feed_url)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await sim.cleanup()
