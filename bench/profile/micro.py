"""Micro-benchmarks: HTTP clients, journal calls, metrics and JSON, each piece alone."""

from __future__ import annotations

import http.client
import json
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from bench.common import (
    LTP,
    SECURITY_ID,
    SimProcess,
    resting_limit_order,
    table,
    token_of,
    workdir,
)
from dhan.codes import ExchangeSegment, OrderStatus, OrderType, ProductType, TransactionType
from dhan.correlation import correlation_id_for
from dhan.models import OrderAck
from dhan.rest import DhanClient
from store import DesiredIntent, Journal, LeaderOrderSnapshot, SnapshotSource
from store.states import IntentState

# -- micro-benchmarks ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Micro:
    name: str
    cpu_us: float  # CPU of the calling thread per call
    wall_us_p50: float
    n: int
    note: str = ""


def measure(name: str, fn: Callable[[int], Any], n: int, note: str = "", warmup: int = 5) -> Micro:
    for k in range(warmup):
        fn(-1 - k)
    walls = []
    c0 = time.thread_time_ns()
    for k in range(n):
        t0 = time.perf_counter_ns()
        fn(k)
        walls.append(time.perf_counter_ns() - t0)
    cpu = time.thread_time_ns() - c0
    return Micro(name, cpu / n / 1e3, statistics.median(walls) / 1e3, n, note)


def micro_http(n: int) -> list[Micro]:
    """One follower place, four ways, against a simulator without rate limits (client CPU)."""
    out = []
    with SimProcess(rate_limits=False, seed=7) as sim:
        acct = "3999000001"
        sim.create_accounts([acct])
        sim.api().set_ltp("NSE_EQ", SECURITY_ID, LTP)
        client = DhanClient(base_url=sim.rest_url, client_id=acct, access_token=token_of(acct))
        req = resting_limit_order()
        body = json.dumps({"dhanClientId": acct, **req.to_wire()}).encode()
        headers = {
            "access-token": token_of(acct),
            "client-id": acct,
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "bench",
        }
        url = sim.rest_url + "/orders"
        try:
            out.append(
                measure(
                    "DhanClient.place_order (http.client keep-alive)",
                    lambda k: client.place_order(req),
                    n,
                    "what the follower calls",
                )
            )
            session = requests.Session()
            session.trust_env = False
            out.append(
                measure(
                    "requests.Session.post + json.loads",
                    lambda k: json.loads(session.post(url, data=body, headers=headers).content),
                    n,
                )
            )
            pool = urllib3.HTTPConnectionPool(
                urlsplit(url).hostname or "", urlsplit(url).port, maxsize=1, retries=False
            )

            def urllib3_place(k: int) -> Any:
                resp = pool.urlopen("POST", urlsplit(url).path, body=body, headers=headers)
                return OrderAck.from_wire(json.loads(resp.data), "POST /orders")

            out.append(measure("urllib3 pool POST + json + OrderAck", urllib3_place, n))
            pool.close()
            parts = urlsplit(url)
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)

            def raw_place(k: int) -> Any:
                conn.request("POST", parts.path, body=body, headers=headers)
                resp = conn.getresponse()
                return OrderAck.from_wire(json.loads(resp.read()), "POST /orders")

            out.append(
                measure(
                    "http.client keep-alive POST + json + OrderAck",
                    raw_place,
                    n,
                    "same wire bytes",
                )
            )
            conn.close()
            session.close()
        finally:
            client.close()
    return out


def _snapshot(oid: str, n_followers: int) -> tuple[LeaderOrderSnapshot, list[DesiredIntent]]:
    snap = LeaderOrderSnapshot(
        leader_order_id=oid,
        dedupe_key=f"{oid}|TRANSIT|1",
        source=SnapshotSource.SOCKET,
        status=OrderStatus.TRANSIT,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id=SECURITY_ID,
        quantity=1,
        price=LTP,
        seq=time.time_ns(),
        raw={"OrderNo": oid, "Status": "TRANSIT"},
    )
    intents = [
        DesiredIntent(
            follower=f"f{k:04d}",
            leader_order_id=oid,
            correlation_id=correlation_id_for(f"f{k:04d}", oid),
            transaction_type=TransactionType.BUY,
            exchange_segment=ExchangeSegment.NSE_EQ,
            product_type=ProductType.INTRADAY,
            order_type=OrderType.LIMIT,
            security_id=SECURITY_ID,
            quantity=1,
            price=LTP,
        )
        for k in range(n_followers)
    ]
    return snap, intents


def micro_journal(rounds: int, n_followers: int) -> list[Micro]:
    """The store calls of one copy, alone (one thread), concurrently, and batched."""
    out: list[Micro] = []
    for sync in ("FULL", "NORMAL"):
        with workdir("bench-profile-journal-") as tmp:
            journal = Journal.open(f"sqlite:///{tmp / 'j.db'}", sqlite_synchronous=sync)
            try:
                out += _journal_calls(journal, sync, rounds, n_followers)
            finally:
                journal.close()
    return out


def _journal_calls(journal: Journal, sync: str, rounds: int, n_followers: int) -> list[Micro]:
    names = [f"f{k:04d}" for k in range(n_followers)]
    claimed: list[int] = []

    def record(k: int) -> None:
        snap, intents = _snapshot(f"M{k + 100}", n_followers)
        got = journal.record_and_claim(snap, intents, names)
        assert got is not None
        if k >= 0:
            claimed.extend(i.id for i in got)

    out = [
        measure(
            f"record_and_claim, {n_followers} intents [{sync}]",
            record,
            rounds,
            "once per leader frame",
        )
    ]

    def ack(k: int) -> None:
        if k >= 0:
            journal.transition(
                claimed[k],
                IntentState.WORKING,
                expect_from=IntentState.SENDING,
                broker_order_id=f"B{k}",
                broker_status=OrderStatus.PENDING,
                applied_version=1,
            )

    half = len(claimed) // 2
    out.append(measure(f"transition SENDING->WORKING (the ack) [{sync}]", ack, half))

    def audit(k: int) -> None:
        journal.append_audit("bench", actor="bench", account="f0000", payload={"k": k})

    out.append(measure(f"append_audit [{sync}]", audit, rounds))
    if sync == "FULL":
        rest = claimed[half:]
        third = len(rest) // 3
        out += _concurrent_acks(journal, rest[: 2 * third], n_followers)
        out.append(_raw_acks(journal, rest[2 * third :]))
        out += _reads(journal, rounds)
    return out


def _reads(journal: Journal, rounds: int) -> list[Micro]:
    """The follower's refresh read (its WORKING copies of one leader order) through the
    journal, and the same SELECT compiled once and run on a plain ``sqlite3`` connection."""
    from sqlalchemy import bindparam
    from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

    from store.hot_path import compile_for
    from store.models import FollowerIntent
    from store.rows import intent_from_row
    from store.statements import select_intents

    c = FollowerIntent.__table__.c
    stmt = (
        select_intents()
        .where(
            c.follower == bindparam("follower"),
            c.state == bindparam("state"),
            c.leader_order_id == bindparam("leader_order_id"),
        )
        .order_by(c.id)
    )
    sql = compile_for(stmt, SQLiteDialect_pysqlite(paramstyle="named"))
    path = journal.url.removeprefix("sqlite:///")  # the file the journal writes
    conn = sqlite3.connect(path, check_same_thread=False)

    def through_journal(k: int) -> Any:
        return journal.intents(
            "f0001", [IntentState.WORKING], leader_order_id=f"M{k % rounds + 100}"
        )

    def raw(k: int) -> Any:
        params = {
            "follower": "f0001",
            "state": "WORKING",
            "leader_order_id": f"M{k % rounds + 100}",
        }
        cur = conn.execute(sql.text, sql.params(params))
        names = [d[0] for d in cur.description]
        return [intent_from_row(dict(zip(names, r, strict=True))) for r in cur.fetchall()]

    try:
        return [
            measure("Journal.intents(f, [WORKING], leader_order_id)", through_journal, rounds),
            measure("the same SELECT precompiled, plain sqlite3 + intent_from_row", raw, rounds),
        ]
    finally:
        conn.close()


def _raw_acks(journal: Journal, ids: list[int]) -> Micro:
    """The ack's own SQL (the journal's compiled hot-path statements) on a plain ``sqlite3``
    connection: BEGIN IMMEDIATE, read, update, audit row, COMMIT -- no SQLAlchemy Connection,
    pool or SAVEPOINT around it. The floor under ``Journal.transition``; uses internals."""
    from store.hot_path import _TRANSITION_COLUMNS  # internals: see the docstring

    hot = journal._hot
    path = journal.url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")

    def ack(k: int) -> None:
        if k < 0:
            return
        intent_id = ids[k]
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        cur.execute(hot.read_intent.text, hot.read_intent.params({"intent_id": intent_id}))
        names = [d[0] for d in cur.description]
        row = dict(zip(names, cur.fetchone(), strict=True))
        ts = hot.ts(datetime.now(UTC))
        values = {name: row[name] for name in _TRANSITION_COLUMNS}
        values |= {
            "state": IntentState.WORKING.value,
            "updated_at": ts,
            "broker_order_id": f"R{intent_id}",
        }
        values |= {"applied_version": 1}
        cur.execute(
            hot.update_state.text, hot.update_state.params({**values, "intent_id": intent_id})
        )
        payload = json.dumps({"intent_id": intent_id, "from": row["state"], "to": "WORKING"})
        audit = {"at": ts, "kind": "intent_transition", "actor": "journal", "account": "f0000"}
        cur.execute(hot.insert_audit.text, hot.insert_audit.params({**audit, "payload": payload}))
        cur.execute("COMMIT")
        cur.close()

    try:
        return measure(
            "the ack's SQL on a plain sqlite3 connection [FULL]",
            ack,
            len(ids),
            "floor under transition (internals)",
        )
    finally:
        conn.close()


def _concurrent_acks(journal: Journal, ids: list[int], width: int) -> list[Micro]:
    """``width`` acks at once from ``width`` threads (the group commit), vs in one transaction.

    The batched variant uses the journal's internals (``_write`` + ``_hot.transition``): it
    estimates what a batched-ack API would cost; no such API exists.
    """
    out = []
    half = len(ids) // 2
    groups = [ids[i : i + width] for i in range(0, half - width + 1, width)]
    cpu0 = time.process_time_ns()
    walls = []
    for group in groups:
        barrier = threading.Barrier(len(group) + 1)

        def one(intent_id: int, b: threading.Barrier = barrier) -> None:
            b.wait()
            journal.transition(
                intent_id,
                IntentState.WORKING,
                expect_from=IntentState.SENDING,
                broker_order_id=f"C{intent_id}",
                applied_version=1,
            )

        threads = [threading.Thread(target=one, args=(i,)) for i in group]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter_ns()
        for t in threads:
            t.join()
        walls.append(time.perf_counter_ns() - t0)
    cpu = time.process_time_ns() - cpu0
    acks = sum(len(g) for g in groups)
    out.append(
        Micro(
            f"{width} acks from {width} threads at once (group commit) [FULL]",
            cpu / acks / 1e3,
            statistics.median(walls) / 1e3,
            acks,
            "CPU per ack incl. thread start; wall per group",
        )
    )
    batches = [ids[i : i + width] for i in range(half, len(ids) - width + 1, width)]
    walls = []
    c0 = time.thread_time_ns()
    for batch in batches:
        t0 = time.perf_counter_ns()
        with journal._write() as conn:  # internals: see the docstring
            for intent_id in batch:
                journal._hot.transition(
                    conn,
                    intent_id,
                    IntentState.WORKING,
                    IntentState.SENDING,
                    {"broker_order_id": f"D{intent_id}", "applied_version": 1},
                    datetime.now(UTC),
                )
        walls.append(time.perf_counter_ns() - t0)
    cpu = time.thread_time_ns() - c0
    acks = sum(len(b) for b in batches)
    out.append(
        Micro(
            f"{width} acks in one transaction (batched, internals) [FULL]",
            cpu / max(1, acks) / 1e3,
            statistics.median(walls) / 1e3 if walls else 0.0,
            acks,
            "CPU per ack; wall per batch",
        )
    )
    return out


def micro_misc(n: int) -> list[Micro]:
    from copytrader.metrics import Metrics

    m = Metrics(process=False)
    out = [
        measure(
            "Counter.labels(f, action, outcome).inc()",
            lambda k: m.follower_orders.labels("f0000", "place", "ok").inc(),
            n,
        ),
        measure(
            "Histogram.labels(f).observe()",
            lambda k: m.replication_latency.labels("f0000").observe(0.01),
            n,
        ),
    ]
    req = replace(resting_limit_order(), correlation_id="abc-123")
    ack = json.dumps({"orderId": "112111182198", "orderStatus": "PENDING"}).encode()
    out.append(
        measure(
            "OrderRequest.to_wire + json.dumps",
            lambda k: json.dumps({"dhanClientId": "1", **req.to_wire()}).encode(),
            n,
        )
    )
    out.append(
        measure(
            "json.loads + OrderAck.from_wire", lambda k: OrderAck.from_wire(json.loads(ack), "x"), n
        )
    )
    return out


def print_micro(micros: Sequence[Micro]) -> list[dict[str, Any]]:
    print(
        table(
            ["micro-benchmark", "CPU us/call", "wall p50 us", "n", "note"],
            [[m.name, round(m.cpu_us, 1), round(m.wall_us_p50, 1), m.n, m.note] for m in micros],
        )
    )
    return [asdict(m) for m in micros]
