"""The engine: builds the supervision tree of actors from a Config and runs it.

::

    root               one_for_one, 3 restarts / 60 s, then give up (exit non-zero)
     audit             AuditActor        permanent
     rate-limiter      RateLimiterActor  permanent
     operator-modes    OperatorModeActor permanent (the journal's pause / close-only modes, 0.5 s)
     followers.<name>  supervisor per follower, 5 / 60 s, then QUARANTINE (others keep going)
       follower.<name>   FollowerActor     permanent
       follower-feed.<name>  FollowerFeedActor  permanent (engine.follower_sockets: its order
                         socket; reconnects itself on a 0.5 s -> 30 s backoff; crash restarts too)
       bracket.<name>.<leader order>  BracketLegActor  transient (added at run time)
     leader            supervisor; 30 restarts / 60 s
       leader-feed       LeaderFeedActor   permanent, backoff 0.5 s doubling to 30 s, 20% jitter

The leader feed starts last, so every follower is running before the first hint.

The engine holds the journal's lease (``store.lease``: one engine per journal) for its whole
life, and declares the store a resource of the tree's ``supervision.Environment``: while the
store is unavailable (down, disk full, locked, lease lost) every actor stops at its next
message and waits, uncounted, until a probe finds the store writable again (docs/architecture.md,
"Environment faults").
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from actors.audit import AuditActor
from actors.follower import FollowerActor
from actors.follower_book import FollowerBook
from actors.follower_feed import SOCKET_POLL_S, FollowerFeedActor, SocketStatus
from actors.leader_feed import FeedStatus, LeaderFeedActor
from actors.messages import RederiveWaiting
from actors.names import (
    AUDIT,
    LEADER_FEED,
    LIMITER,
    OPERATOR_MODES,
    follower_feed_name,
    follower_name,
    follower_supervisor_name,
)
from actors.operator_mode_watch import OperatorModeActor, set_mode_gauges
from actors.operator_modes import OperatorModes
from actors.rate_limiter import RateLimiterActor
from actors.rate_windows import AccountWindows, order_rate_limits
from copytrader.allocator import AllocatorTrim
from copytrader.config import AccountConfig, Config, FollowerConfig, Secret
from copytrader.drift import DriftGauge
from copytrader.instrument_file import (
    InstrumentFileUnavailable,
    LotSizes,
    describe,
    load_limits,
    merge,
    sim_instruments_url,
)
from copytrader.metrics import Metrics
from dhan import errors
from dhan.order_feed import OrderFeed, unfilled_and_open
from dhan.rest import DhanClient
from store import Journal
from store.errors import StoreUnavailable, unavailable_reason
from store.lease import JournalLease
from supervision import (
    Backoff,
    ChildSpec,
    Environment,
    Escalation,
    Intensity,
    Supervisor,
)
from supervision import events as ev
from supervision.faults import FAULTS, Faults
from supervision.registry import NameState
from supervision.specs import ExitReason

if TYPE_CHECKING:
    from copytrader.flatten_runner import FlattenRunner

logger = logging.getLogger(__name__)

#: The environment resource that is the journal (its database and the disk under it).
STORE = "store"
#: While the store is up it is pinged (one read) this often, so an outage is seen and
#: reported even when nothing is being copied; while it is down it is probed on a backoff.
STORE_CHECK_INTERVAL_S = 2.0
#: Below this much free space on the journal's or the audit trail's file system the store
#: counts as unavailable: pausing before a write fails beats failing half way through.
MIN_FREE_BYTES = 1 << 20


def store_fault(exc: BaseException) -> str | None:
    """The environment classifier of the store: an outage of the journal, or of its disk."""
    if isinstance(exc, StoreUnavailable) or unavailable_reason(exc) is not None:
        return STORE
    return None


#: A balance capital sizing needs but could not read is read again after this, doubling up to
#: ``engine.fund_refresh_s`` while it stays unreadable.
BALANCE_RETRY_FIRST_S = 1.0
#: How long the sampler waits for the leader feed to size the copies that waited for a balance.
REDERIVE_ASK_S = 10.0


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerEndpoints:
    rest_url: str
    order_feed_url: str


class Engine:
    """One copy engine: journal, clients, supervision tree. ``start()`` / ``stop()``."""

    def __init__(
        self,
        cfg: Config,
        *,
        endpoints: BrokerEndpoints | None = None,
        faults: Faults | None = None,
        metrics: Metrics | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.cfg = cfg
        self.endpoints = endpoints or BrokerEndpoints(
            cfg.broker.rest_url, cfg.broker.order_feed_url
        )
        self.faults = faults or FAULTS
        self.metrics = metrics or Metrics()
        self._journal = journal
        self.feed_status = FeedStatus()
        #: each follower's order socket (``engine.follower_sockets``), by follower name
        self.socket_status: dict[str, SocketStatus] = {}
        #: lot sizes: the instrument file's (``_load_instruments``), then what frames teach
        self.lot_sizes = LotSizes()
        #: what the actors get of ``cfg.engine``: its freeze quantities over the instrument file's
        self.engine_settings = cfg.engine
        self.balances: dict[str, float] = {}
        #: the operator's modes (pause / close-only), read from the journal at start and then
        #: every half second by the OperatorModeActor; the leader feed sizes with them
        self.operator_modes = OperatorModes()
        #: the order-rate windows per account; owned here so they outlive a limiter restart
        self.rate_windows: dict[str, AccountWindows] = {}
        self.followers: tuple[FollowerConfig, ...] = tuple(cfg.followers)
        #: what the actors see of ``followers``: no tokens, no proxies (kept in step by reload)
        self.follower_settings = tuple(f.settings for f in self.followers)
        self.clients: dict[str, DhanClient] = {}
        self.root: Supervisor | None = None
        self.gave_up = threading.Event()
        self.give_up_reason: str | None = None
        self._subscription: Any = None
        self._sampler: threading.Thread | None = None
        #: a balance arrived that waiting copies need; cleared once the leader feed sized them
        self._rederive_pending = False
        #: gives the C allocator's free memory back to the system, from the sampler thread
        self.allocator = AllocatorTrim()
        #: the position drift gauge, computed from the journal by the sampler
        self.drift = DriftGauge(self.metrics.position_drift)
        self._stopping = threading.Event()
        self.lease: JournalLease | None = None
        #: set by the runner while the store is unavailable at start (the engine waits)
        self.start_blocked: str | None = None
        #: the tree's shared resources: the store (see ``start``)
        self.environment = Environment("engine-environment")

    # -- building blocks ----------------------------------------------------------------------

    @property
    def journal(self) -> Journal:
        assert self._journal is not None, "engine not started"
        return self._journal

    def _client(self, account: AccountConfig | FollowerConfig) -> DhanClient:
        b = self.cfg.broker
        egress = getattr(account, "egress", None)
        return DhanClient(
            base_url=self.endpoints.rest_url,
            client_id=account.client_id,
            access_token=account.access_token.reveal(),
            connect_timeout_s=b.connect_timeout_s,
            read_timeout_s=b.read_timeout_s,
            source_address=egress.source_address if egress else None,
            proxy=egress.proxy if egress else None,
        )

    def _feed(self) -> OrderFeed:
        b = self.cfg.broker
        return OrderFeed(
            url=self.endpoints.order_feed_url,
            client_id=self.cfg.leader.client_id,
            access_token=self.clients["leader"].access_token,
            ping_interval_s=b.feed_ping_interval_s,
            ping_timeout_s=b.feed_ping_timeout_s,
            connect_timeout_s=b.connect_timeout_s,
        )

    def _follower_feed(self, name: str, access_token: str) -> OrderFeed:
        """A follower's order socket, logging in with ``access_token`` (its current one)."""
        b = self.cfg.broker
        follower = next(f for f in self.followers if f.name == name)
        return OrderFeed(
            url=self.endpoints.order_feed_url,
            client_id=follower.client_id,
            access_token=access_token,
            ping_interval_s=b.feed_ping_interval_s,
            ping_timeout_s=b.feed_ping_timeout_s,
            connect_timeout_s=b.connect_timeout_s,
            poll_s=SOCKET_POLL_S,
            skip_raw=unfilled_and_open,  # dropped by the follower anyway: spared the parse
        )

    def _follower_feed_spec(self, name: str) -> ChildSpec:
        client = self.clients[name]
        return ChildSpec.actor(
            follower_feed_name(name),
            FollowerFeedActor,
            account=name,
            feed_factory=functools.partial(self._follower_feed, name),
            token=lambda: client.access_token,
            client=client,
            journal=self.journal,
            status=self.socket_status.setdefault(name, SocketStatus()),
            backoff=Backoff(initial_s=0.5, factor=2.0, max_s=30.0, jitter=0.2, reset_after_s=60.0),
        )

    def refresh_balances(self) -> bool:
        """Available balances for capital sizing (leader + capital-mode followers).

        Returns True when every balance capital sizing needs is known (a failed read keeps the
        last one). Once the engine runs, a balance that arrives for the first time re-derives
        the copies that waited for it (on the leader feed's thread: ``_ask_rederive``).
        """
        wanted = ["leader"] + [f.name for f in self.followers if f.sizing.mode == "capital"]
        if len(wanted) == 1:
            return True
        missing = [name for name in wanted if name not in self.balances]
        for name in wanted:
            try:
                self.balances[name] = self.clients[name].fund_limits().available_balance
            except errors.DhanError as exc:
                logger.warning("balance of %s unavailable: %s", name, exc)
        if self.root is not None and any(name in self.balances for name in missing):
            self._rederive_pending = True  # the sampler asks the leader feed (_ask_rederive)
        return all(name in self.balances for name in wanted)

    def _ask_rederive(self) -> bool:
        """Ask the leader feed to size again the copies that waited for a balance (its thread
        writes the leader's snapshots and intents). False when it could not answer now
        (restarting, busy past the timeout): the sampler asks again a second later."""
        assert self.root is not None
        try:
            self.root.registry.ask(LEADER_FEED, RederiveWaiting(), timeout_s=REDERIVE_ASK_S)
        except Exception as exc:  # ChildUnavailable, a timeout, the feed crashing meanwhile
            logger.debug("re-deriving the waiting copies postponed: %s", exc)
            return False
        return True

    def _load_instruments(self) -> None:
        """Lot sizes and freeze quantities from ``broker.instruments_url`` (default: the
        embedded simulator's file), under what the config and the leader's frames set. A file
        that cannot be read is logged and copying starts without it: copies of instruments
        no one gave a freeze quantity for are sent whole, as without the key."""
        b = self.cfg.broker
        url = b.instruments_url
        if url is None and b.embedded_sim:
            url = sim_instruments_url(self.endpoints.rest_url)
        if url is None:
            return
        try:
            limits = load_limits(url)
        except InstrumentFileUnavailable as exc:
            logger.error("%s: starting without its lot sizes and freeze quantities", exc)
            return
        configured = self.cfg.engine.freeze_quantities
        freeze, lots = merge(limits, configured)
        self.lot_sizes.add_file(lots)
        self.engine_settings = dataclasses.replace(self.cfg.engine, freeze_quantities=freeze)
        logger.info(
            "instrument file %s: %d instruments, %d lot sizes, %d freeze quantities "
            "(%d of them from engine.freeze_quantities)",
            describe(url),
            len(limits),
            len(lots),
            len(freeze),
            len(configured),
        )

    def _record_order_rules(self) -> None:
        """What the exchange's algo rules ask an operator to keep with each order: every
        audit record of a follower's copies carries its client id and, when configured, its
        algo ID; the rate the engine keeps to is audited once per start."""
        for f in self.followers:
            tags = {"client_id": f.client_id}
            if f.algo_id is not None:
                tags["algo_id"] = f.algo_id
            self.journal.tag_orders(f.name, tags)
        self.journal.append_audit(
            "order_rate_rules",
            actor="engine",
            account=None,
            payload={
                "max_orders_per_second": self.engine_settings.max_orders_per_second,
                "algo_ids": {f.name: f.algo_id for f in self.followers if f.algo_id},
            },
        )

    def _flatten_runner(self) -> FlattenRunner:
        """What runs the flatten requests journaled beside this engine (``flatten``)."""
        from copytrader.flatten_runner import FlattenRunner  # it builds on this module

        def config_now() -> Config:  # the followers' tokens as the last reload left them
            return dataclasses.replace(self.cfg, followers=self.followers)

        return FlattenRunner(config_now, self.endpoints, lambda: self.journal, self.operator_modes)

    def _specs(self) -> list[ChildSpec]:
        e = self.engine_settings
        # Dhan's windows, with the per-second one at engine.max_orders_per_second (below the
        # exchange's algo threshold by default)
        limits = order_rate_limits(e.max_orders_per_second)
        specs = [
            ChildSpec.actor(
                AUDIT, AuditActor, journal=self.journal, path=e.audit_path, interval_s=0.5
            ),
            ChildSpec.actor(LIMITER, RateLimiterActor, limits=limits, windows=self.rate_windows),
            ChildSpec.actor(
                OPERATOR_MODES,
                OperatorModeActor,
                journal=self.journal,
                modes=self.operator_modes,
                followers=lambda: self.follower_settings,
                metrics=self.metrics,
                on_flatten=self._flatten_runner().submit,
            ),
        ]
        for f in self.followers:
            specs.append(
                Supervisor.child_spec(
                    follower_supervisor_name(f.name),
                    [
                        ChildSpec.actor(
                            follower_name(f.name),
                            FollowerActor,
                            follower=f.settings,
                            enabled_now=functools.partial(self.follower_enabled, f.name),
                            client=self.clients[f.name],
                            journal=self.journal,
                            engine=e,
                            metrics=self.metrics,
                            windows=self.rate_windows.setdefault(
                                f.name, AccountWindows.dhan_defaults(limits)
                            ),
                            book=FollowerBook(self.clients[f.name], max_age_s=e.bracket_tick_s / 2),
                            backoff=Backoff(initial_s=0.05, max_s=5.0, reset_after_s=30.0),
                        ),
                        *([self._follower_feed_spec(f.name)] if e.follower_sockets else []),
                    ],
                    intensity=Intensity(
                        max_restarts=e.follower_max_restarts, period_s=e.follower_restart_period_s
                    ),
                    escalation=Escalation.QUARANTINE,
                )
            )
        specs.append(
            Supervisor.child_spec(
                "leader",
                [
                    ChildSpec.actor(
                        LEADER_FEED,
                        LeaderFeedActor,
                        feed_factory=self._feed,
                        client=self.clients["leader"],
                        journal=self.journal,
                        followers=lambda: self.follower_settings,
                        engine=e,
                        metrics=self.metrics,
                        lot_sizes=self.lot_sizes,
                        balances=self.balances,
                        status=self.feed_status,
                        modes=self.operator_modes,
                        backoff=Backoff(
                            initial_s=0.5, factor=2.0, max_s=30.0, jitter=0.2, reset_after_s=60.0
                        ),
                    )
                ],
                intensity=Intensity(max_restarts=30, period_s=60.0),
            )
        )
        return specs

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> Engine:
        """Take the journal's lease (``LeaseHeld`` names the engine that has it), open the
        journal and start the tree. Raises ``StoreUnavailable`` if the store is down."""
        self.lease = JournalLease(self.cfg.store.url, on_lost=self._on_lease_lost).acquire()
        try:
            self._start()
        except BaseException:
            if STORE in self.environment.resources:
                self.environment.close()
            if self._journal is not None and self.root is None:
                self._journal.close()
                self._journal = None
            self.lease.release()
            raise
        return self

    def _start(self) -> None:
        if self._journal is None:
            self._journal = Journal.open(
                self.cfg.store.url,
                sqlite_synchronous=str(self.cfg.store.sqlite_synchronous),
            )
        assert self.lease is not None
        self.journal.hold_lease(self.lease)
        self.metrics.store_up.set(1)
        self.environment.subscribe(self._on_store_change)
        self.environment.add_resource(
            STORE,
            probe=self._probe_store,
            classify=store_fault,
            check_interval_s=STORE_CHECK_INTERVAL_S,
        )
        self._load_instruments()
        self.clients["leader"] = self._client(self.cfg.leader)
        for f in self.followers:
            self.clients[f.name] = self._client(f)
        balances_known = self.refresh_balances()
        self._record_order_rules()
        for f in self.followers:
            # a fresh start lifts an old quarantine; series exist at 0 before their first event
            self.journal.set_follower_flag(f.name, False, None)
            self.metrics.follower_quarantined.labels(f.name).set(0)
            self.metrics.follower_paused.labels(f.name).set(0)
            self.metrics.rate_limited.labels(f.name).inc(0)
        self.metrics.rate_limited.labels("leader").inc(0)
        # in force before the first leader event (the watcher refreshes them from then on)
        for m in self.operator_modes.refresh(self.journal):
            if m.mode != "normal":
                logger.warning("follower %s starts %s (set by %s)", m.follower, m.mode, m.set_by)
        set_mode_gauges(self.metrics, self.follower_settings, self.operator_modes)
        for f in self.followers:
            self.metrics.replication_latency.labels(f.name)
        self.root = Supervisor(
            "root",
            self._specs(),
            intensity=Intensity(max_restarts=3, period_s=60.0),
            faults=self.faults,
            environment=self.environment,
            on_give_up=self._on_give_up,
        )
        self._subscription = self.root.events.subscribe(self._on_event)
        self.root.start()
        self._sampler = threading.Thread(
            target=self._sample, args=(balances_known,), name="engine-sampler", daemon=True
        )
        self._sampler.start()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop the tree (leader feed first: reverse start order) within ``timeout_s``."""
        self._stopping.set()
        self.environment.close()  # no restart waits for the store any more
        clean = True
        if self.root is not None:
            clean = self.root.stop(timeout_s)
        if not clean:
            # an actor did not stop in time and may still be writing: closing the journal and
            # the clients under it would only turn its last (journaled-first) steps into errors
            # (the lease stays held too: those actors may still send; the process's exit, which
            # follows, releases it)
            logger.warning("engine stop: some actors did not stop in time; leaving the store open")
            return clean
        for client in self.clients.values():
            client.close()
        if self._journal is not None:
            self._journal.close()
        if self.lease is not None:
            self.lease.release()  # after the last write
        return clean

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the root gives up (True) or ``timeout_s`` passes (False)."""
        return self.gave_up.wait(timeout_s)

    def _on_give_up(self, reason: str) -> None:
        self.give_up_reason = reason
        logger.critical("root supervisor gave up: %s", reason)
        self.gave_up.set()

    # -- tokens -----------------------------------------------------------------------------

    def apply_token(self, account: str, token: str) -> None:
        """Use a renewed or regenerated token at once (the caller stored it first): the
        account's REST client; a follower's actor (it resumes if a refused token paused it);
        the leader's order socket, which reconnects and reconciles as after any drop."""
        from actors.messages import FeedFailed, UpdateToken

        client = self.clients.get(account)
        if client is None:
            raise KeyError(f"no account {account!r}")
        client.update_token(token)
        secret = Secret(token)
        if account == "leader":
            self.cfg = dataclasses.replace(
                self.cfg, leader=dataclasses.replace(self.cfg.leader, access_token=secret)
            )
            if self.root is not None:
                with contextlib.suppress(Exception):
                    self.root.registry.tell(LEADER_FEED, FeedFailed("leader token renewed"))
            return
        self.followers = tuple(
            dataclasses.replace(f, access_token=secret) if f.name == account else f
            for f in self.followers
        )
        if self.root is not None:
            with contextlib.suppress(Exception):
                self.root.registry.tell(follower_name(account), UpdateToken(token))
            with contextlib.suppress(Exception):  # its order socket reconnects with it
                self.root.registry.tell(follower_feed_name(account), UpdateToken(token))

    # -- reload (SIGHUP) ------------------------------------------------------------------------

    def reload(self, new: Config) -> None:
        """Take new tokens and follower ``enabled`` flags without a restart."""
        from actors.messages import SetEnabled, UpdateToken

        by_name = {f.name: f for f in new.followers}
        assert self.root is not None
        # the leader feed claims work only for enabled followers, and a follower restarted
        # later starts with the flag it has now (not the one it had when the engine started)
        self.followers = tuple(
            dataclasses.replace(f, enabled=nf.enabled, access_token=nf.access_token)
            if (nf := by_name.get(f.name)) is not None
            else f
            for f in self.followers
        )
        self.follower_settings = tuple(f.settings for f in self.followers)
        for f in self.followers:
            nf = by_name.get(f.name)
            if nf is None:
                logger.warning("follower %s is gone from the config: restart to remove it", f.name)
                continue
            target = follower_name(f.name)
            with contextlib.suppress(Exception):
                self.root.registry.tell(target, UpdateToken(nf.access_token.reveal()))
                self.root.registry.tell(target, SetEnabled(nf.enabled))
            with contextlib.suppress(Exception):  # reconnects only if the token changed
                self.root.registry.tell(
                    follower_feed_name(f.name), UpdateToken(nf.access_token.reveal())
                )
        new_leader = new.leader.access_token.reveal()
        if new_leader != self.clients["leader"].access_token:
            self.clients["leader"].update_token(new_leader)
            from actors.messages import FeedFailed

            with contextlib.suppress(Exception):  # reconnect with the new token
                self.root.registry.tell(LEADER_FEED, FeedFailed("leader token reloaded"))
        logger.info("config reloaded: tokens and enabled flags applied")
        # what a reload does not apply must not pass unnoticed: key paths only, never values
        restart_only = self.cfg.changes_needing_restart(new)
        if restart_only:
            logger.warning(
                "config reload: %d change(s) NOT applied, they need a restart: %s",
                len(restart_only),
                ", ".join(restart_only),
            )

    # -- the store as a resource -----------------------------------------------------------------

    def _probe_store(self) -> None:
        """The store's health probe (on the environment's thread): the lease is held (taken
        again after a loss, unless another engine has it) and the journal answers -- one read
        while it is up, a committed write while it is down (a full disk or a held lock lets
        reads through)."""
        assert self.lease is not None
        self.lease.ensure()
        for directory in self._store_directories():
            st = os.statvfs(directory)
            free = st.f_bavail * st.f_frsize
            if free < MIN_FREE_BYTES:
                raise StoreUnavailable(f"disk full: {directory} has {free} bytes free")
        if self.environment.is_up(STORE):
            self.journal.ping()
        else:
            self.journal.probe_write()

    def _store_directories(self) -> list[str]:
        """The local directories the store writes to: the SQLite file's and the audit trail's."""
        paths = [os.path.abspath(self.cfg.engine.audit_path)]
        url = make_url(self.cfg.store.url)
        if url.get_backend_name() == "sqlite" and url.database:
            paths.append(os.path.abspath(url.database))
        out = set()
        for path in paths:
            directory = os.path.dirname(path)
            while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
                directory = os.path.dirname(directory)  # not created yet: its file system
            out.add(directory)
        return sorted(out)

    def _on_lease_lost(self, reason: str) -> None:
        # the journal already refuses every call; this stops every actor at its next message
        self.environment.report_fault(STORE, f"journal lease lost: {reason}")

    def _on_store_change(self, resource: str, up: bool, reason: str) -> None:
        if resource != STORE:
            return
        self.metrics.store_up.set(1 if up else 0)
        if up:
            logger.warning("store %s is back: copying resumes", self.cfg_store_url)
        else:
            self.metrics.store_outages.inc()
            logger.error(
                "store %s unavailable (%s): copying paused until it is back",
                self.cfg_store_url,
                reason,
            )

    @property
    def cfg_store_url(self) -> str:
        """The journal's URL with any password hidden."""
        if self._journal is not None:
            return self._journal.url
        return self.lease.shown_url if self.lease is not None else "(not opened)"

    # -- observability ---------------------------------------------------------------------------

    def _on_event(self, event: ev.SupervisionEvent) -> None:
        if isinstance(event, ev.ChildExited) and event.error:
            if event.reason is ExitReason.ENVIRONMENT:
                return  # the store is down (or was): nothing to write it to, and not a bug
            with contextlib.suppress(Exception):
                self.journal.record_restart(event.child_id, event.error[:500])
        elif isinstance(event, ev.ChildRestarted):
            if event.environment:
                return  # a resume after an outage, not a restart of a failing actor
            self.metrics.actor_restarts.labels(_actor_kind(event.child_id)).inc()
        elif isinstance(event, ev.Quarantined):
            name = event.supervisor.rsplit("/", 1)[-1].removeprefix("followers.")
            self.metrics.follower_quarantined.labels(name).set(1)
            with contextlib.suppress(Exception):
                self.journal.set_follower_flag(name, True, event.reason[:500])
            logger.error("follower %s quarantined: %s", name, event.reason)

    def _sample(self, balances_known: bool = True) -> None:
        """Gauges that are cheaper to sample than to push: inbox depth, unresolved intents;
        and the balances capital sizing reads, every ``engine.fund_refresh_s`` -- and while one
        is unknown (a capital-sized copy waits for it) after 1 s, doubling up to that period."""
        period_s = self.cfg.engine.fund_refresh_s
        retry_s = BALANCE_RETRY_FIRST_S
        next_refresh = time.monotonic() + (period_s if balances_known else 0.0)
        while not self._stopping.wait(1.0):
            self.allocator.tick()  # every allocator.TRIM_EVERY_S: what the day's churn freed
            if self.root is None:
                continue
            if time.monotonic() >= next_refresh:
                if self.refresh_balances():
                    retry_s, wait_s = BALANCE_RETRY_FIRST_S, period_s
                else:
                    wait_s, retry_s = min(retry_s, period_s), retry_s * 2
                next_refresh = time.monotonic() + wait_s
            if self._rederive_pending:
                self._rederive_pending = not self._ask_rederive()
            for name in self.actor_names():
                ref = None
                with contextlib.suppress(Exception):
                    ref = self.root.registry.get(name)
                if ref is not None:
                    inbox: Any = ref.actor_inbox  # a queue.Queue under pykka's ActorInbox protocol
                    self.metrics.mailbox_depth.labels(_actor_kind(name)).set(inbox.qsize())
            with contextlib.suppress(Exception):
                # a follower disabled on purpose keeps its copies waiting: not an alert
                enabled = [f.name for f in self.followers if f.enabled]
                self.metrics.intents_unresolved.set(self.journal.unresolved_count(enabled))
            if self.drift.due():  # every DRIFT_SAMPLE_S, from the journal (logs its failures)
                names = [f.name for f in self.followers if f.enabled]
                self.drift.sample_logged(self.journal, names, self.lot_sizes)

    def follower_enabled(self, name: str) -> bool:
        """The follower's ``enabled`` flag as of the last config (re)load."""
        return any(f.enabled for f in self.followers if f.name == name)

    def actor_names(self) -> list[str]:
        return [AUDIT, LIMITER, LEADER_FEED] + [follower_name(f.name) for f in self.followers]

    def ready(self) -> tuple[bool, str]:
        """Readiness: store available, feed connected and reconciled.

        Read-only and immediate: the store's state is the environment's (probed on its own
        thread), so a probe never waits behind a lock or adds a write to the journal.
        """
        if self.gave_up.is_set():
            return False, f"root supervisor gave up: {self.give_up_reason}"
        if self.start_blocked is not None:
            return False, f"store unavailable at start: {self.start_blocked}; waiting for it"
        store_down = self.environment.down().get(STORE)
        if store_down is not None:
            return False, f"store {self.cfg_store_url} unavailable: {store_down}; copying paused"
        if not self.feed_status.connected:
            return False, "leader order socket not connected"
        if not self.feed_status.reconciled:
            return False, "leader not reconciled since the last connect"
        return True, "ok"

    def follower_state(self, name: str) -> NameState:
        assert self.root is not None
        return self.root.registry.state(follower_name(name))


def _actor_kind(child_id: str) -> str:
    """Metric label for an actor: ``follower.alice`` stays, ``bracket.alice.123`` -> bracket."""
    return "bracket" if child_id.startswith("bracket.") else child_id


@contextlib.contextmanager
def running_engine(cfg: Config, **kwargs: Any) -> Iterator[Engine]:
    engine = Engine(cfg, **kwargs).start()
    try:
        yield engine
    finally:
        engine.stop()


__all__: Sequence[str] = ("BrokerEndpoints", "Engine", "running_engine")
