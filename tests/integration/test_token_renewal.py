"""Tokens that renew themselves, against dhansim: renewal, PIN + TOTP regeneration, the store.

The simulator's accounts get tokens that live a few seconds (``tokenValiditySeconds``), so a test
lives through several "days" in seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import pyotp
import pytest

from copytrader.config import AuthConfig, Secret, TokensConfig
from copytrader.engine import BrokerEndpoints, Engine
from copytrader.token_renewal import auth_url_for, watch_tokens
from copytrader.token_store import TokenStore
from copytrader.token_watch import TokenWatch, parse_token_validity
from dhan import errors
from dhan.auth import generate_access_token
from dhan.rest import DhanClient
from dhansim import Simulator
from tests.integration.engine_harness import (
    Rig,
    build_config,
    follower_config,
    limit_buy,
    wait_until,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # base32, 160 bits
OTHER_SECRET = "KRUGS4ZANFZSAYJAORSXG5BAONSWG4TFOQ"
PIN = "864209"


def _renewals(engine: Engine, account: str, outcome: str) -> float:
    value = engine.metrics.registry.get_sample_value(
        "copytrader_token_renewals_total", {"account": account, "outcome": outcome}
    )
    return value or 0.0


def _paused(engine: Engine, follower: str) -> float | None:
    return engine.metrics.registry.get_sample_value(
        "copytrader_follower_paused", {"follower": follower}
    )


class Trader:
    """The leader's own session (Dhan's app): it uses whatever token the account has now."""

    def __init__(self, sim: Simulator, engine: Engine) -> None:
        self.engine = engine
        leader = engine.cfg.leader
        self.client = DhanClient(
            base_url=sim.rest_url,
            client_id=leader.client_id,
            access_token=engine.clients["leader"].access_token,
        )

    def buy(self, **kw: object) -> str:
        deadline = time.monotonic() + 10.0
        while True:
            used = self.engine.clients["leader"].access_token
            self.client.update_token(used)
            try:
                return self.client.place_order(limit_buy(**kw)).order_id  # type: ignore[arg-type]
            except errors.AuthError:
                # renewed meanwhile: Dhan expired this token before the engine took the new one
                assert time.monotonic() < deadline, "the leader's token was never replaced"
                wait_until(
                    lambda u=used: self.engine.clients["leader"].access_token != u,  # type: ignore[misc]
                    5.0,
                    what="the leader's renewed token",
                )


def test_renewal_expires_the_old_token_and_a_pin_totp_login_replaces_it(sim: Simulator) -> None:
    client_id, first = "3200000001", "first-token-of-3200000001-Qw3"
    sim.admin.create_account(
        client_id, first, 1e6, token_validity_s=600.0, pin=PIN, totp_secret=SECRET
    )
    client = DhanClient(base_url=sim.rest_url, client_id=client_id, access_token=first)
    try:
        before = time.time()
        renewed = client.renew_token()
        assert renewed.access_token != first
        expiry = parse_token_validity(renewed.expiry_time)
        assert expiry is not None and before + 598 <= expiry <= time.time() + 601
        with pytest.raises(errors.AuthError):
            client.profile()  # Dhan expires the renewed token at once
        client.update_token(renewed.access_token)
        assert client.profile().client_id == client_id

        auth_url = auth_url_for(sim.rest_url)
        fresh = generate_access_token(
            client_id, PIN, pyotp.TOTP(SECRET).now(), auth_base_url=auth_url
        )
        assert fresh.access_token not in (first, renewed.access_token)
        with pytest.raises(errors.AuthError):
            client.profile()  # a login replaces the token too
        client.update_token(fresh.access_token)
        assert client.profile().client_id == client_id

        wrong_code = pyotp.TOTP(OTHER_SECRET).now()
        with pytest.raises(errors.AuthError) as refused:
            generate_access_token(client_id, "111111", wrong_code, auth_base_url=auth_url)
        text = f"{refused.value} {refused.value!r}"
        assert (
            "111111" not in text and wrong_code not in text and "generateAccessToken?" not in text
        )
        assert client.profile().client_id == client_id  # a refused login changes nothing
        # the simulator's request journal never holds the login's query (PIN and TOTP code)
        assert not [e for e in sim.admin.journal() if "generateAccessToken" in str(e)]
    finally:
        client.close()


def _start(
    sim: Simulator,
    tmp_path: Path,
    *,
    validity_s: float,
    renew_before_s: float,
    auth: dict[str, AuthConfig] | None = None,
    sim_logins: dict[str, tuple[str, str]] | None = None,
    names: tuple[str, ...] = ("ana", "ben"),
) -> tuple[Rig, TokenWatch, TokenStore]:
    followers = [follower_config(name, f"33000000{10 + i}") for i, name in enumerate(names)]
    if auth:
        followers = [dataclasses.replace(f, auth=auth.get(f.name)) for f in followers]
    cfg = build_config(sim, tmp_path, followers)
    store_path = tmp_path / "tokens.json"
    cfg = dataclasses.replace(
        cfg, tokens=TokensConfig(renew_before_s=renew_before_s, store_path=str(store_path))
    )
    for account in (cfg.leader, *cfg.followers):
        pin, secret = (sim_logins or {}).get(account.client_id, (None, None))
        sim.admin.create_account(
            account.client_id,
            account.access_token.reveal(),
            1e8,
            token_validity_s=validity_s,
            pin=pin,
            totp_secret=secret,
        )
    engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    wait_until(lambda: engine.ready()[0], 10.0, what="engine ready")
    store = TokenStore(store_path)
    watch = watch_tokens(engine, cfg, cfg, store, lambda _values: None)
    leader = DhanClient(
        base_url=sim.rest_url,
        client_id=cfg.leader.client_id,
        access_token=cfg.leader.access_token.reveal(),
    )
    return Rig(sim=sim, cfg=cfg, engine=engine, leader=leader), watch, store


def test_the_engine_copies_through_three_token_lifetimes_and_no_follower_is_ever_paused(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    # the trader places its next order as soon as the last one is copied: more than 10 a second
    sim.admin.set_switches(rate_limits=False)
    rig, watch, store = _start(sim, tmp_path, validity_s=3.0, renew_before_s=1.5)
    trader = Trader(sim, rig.engine)
    try:
        orders: list[str] = []
        paused_seen: list[str] = []
        accounts = ("leader", "ana", "ben")
        deadline = time.monotonic() + 60.0
        # trade on, one order at a time, until every account lived through three renewals
        while min(_renewals(rig.engine, a, "renewed") for a in accounts) < 3:
            assert time.monotonic() < deadline, "three renewals per account within 60 s"
            k = len(orders)
            oid = trader.buy(quantity=1 + k % 5, price=1500.0 - k % 7)
            orders.append(oid)
            rig.wait_copies(oid, lambda _f, c: len(c) == 1, timeout_s=20.0)
            paused_seen += [f.name for f in rig.cfg.followers if _paused(rig.engine, f.name)]
        assert len(orders) >= 3
        leader_book = {o["orderId"]: o for o in rig.book(rig.cfg.leader.client_id)}
        for f in rig.cfg.followers:
            for oid in orders:
                (copy,) = rig.follower_copies(f, oid)
                assert copy["quantity"] == leader_book[oid]["quantity"]
                assert copy["price"] == leader_book[oid]["price"]
        for account in accounts:
            assert _renewals(rig.engine, account, "failed") == 0, account
            stored = store.get(account)
            assert stored is not None and stored.how == "renewed"
            assert stored.token == rig.engine.clients[account].access_token
        assert paused_seen == []
        audit = [r.kind for r in rig.engine.journal.audit_after(0, limit=100_000)]
        assert "follower_paused" not in audit
    finally:
        watch.stop()
        trader.client.close()
        rig.stop()


def test_a_dead_token_is_regenerated_with_pin_and_totp_and_without_them_its_follower_alone_pauses(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    auth = {"ana": AuthConfig(pin=Secret(PIN), totp_secret=Secret(SECRET))}
    rig, watch, store = _start(
        sim,
        tmp_path,
        validity_s=3600.0,
        renew_before_s=60.0,
        auth=auth,
        sim_logins={"3300000010": (PIN, SECRET)},
        names=("ana", "ben", "cid"),
    )
    ana, ben, cid = rig.cfg.followers
    try:
        first = rig.leader.place_order(limit_buy(quantity=2, price=1500.0)).order_id
        rig.wait_copies(first, lambda _f, c: len(c) == 1)
        # both tokens die (a newer login elsewhere, a lapse): neither can be renewed now
        sim.admin.expire_token(ana.client_id)
        sim.admin.expire_token(ben.client_id)
        second = rig.leader.place_order(limit_buy(quantity=3, price=1501.0)).order_id
        rig.wait_copies(second, lambda _f, c: len(c) == 1, followers=[cid])
        watch.check_soon(0.0)
        # ana logs in again with PIN + TOTP and catches up; ben stays paused alone
        rig.wait_copies(second, lambda _f, c: len(c) == 1, followers=[ana], timeout_s=20.0)
        wait_until(lambda: _paused(rig.engine, "ben") == 1.0, 10.0, what="ben paused")
        assert _paused(rig.engine, "ana") in (None, 0.0)
        assert rig.follower_copies(ben, second) == []
        stored = store.get("ana")
        assert stored is not None and stored.how == "generated"
        assert stored.token == rig.engine.clients["ana"].access_token
        assert _renewals(rig.engine, "ana", "generated") == 1
        wait_until(lambda: _renewals(rig.engine, "ben", "failed") >= 1, 10.0, what="ben failed")
        self_renewing = rig.engine.metrics.registry.get_sample_value(
            "copytrader_token_self_renewing", {"account": "ben"}
        )
        assert self_renewing == 0.0  # the expiry alert fires for ben (promtool test)
        third = rig.leader.place_order(limit_buy(quantity=4, price=1502.0)).order_id
        rig.wait_copies(third, lambda _f, c: len(c) == 1, followers=[ana, cid])
        assert rig.follower_copies(ben, third) == []

        # no token, PIN or TOTP secret in the logs, the journal or the audit trail
        secrets = [
            PIN,
            SECRET,
            stored.token,
            *(c.access_token for c in rig.engine.clients.values()),
        ]
        secrets += [f.access_token.reveal() for f in rig.cfg.followers]
        logs = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
        journal_bytes = (tmp_path / "journal.db").read_bytes()
        for wal in tmp_path.glob("journal.db-wal"):
            journal_bytes += wal.read_bytes()
        audit = (
            (tmp_path / "audit.jsonl").read_text() if (tmp_path / "audit.jsonl").exists() else ""
        )
        for secret in secrets:
            assert secret not in logs
            assert secret.encode() not in journal_bytes
            assert secret not in audit
    finally:
        watch.stop()
        rig.stop()
