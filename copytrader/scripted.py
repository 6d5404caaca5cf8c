"""What the scripted runs share (``demo``, ``chaos``, the benchmarks in ``bench/``): the NSE
equity DAY order their leaders place, and the config of an engine against a simulator that is
already listening, with its journal and audit trail in a work folder."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from copytrader.config import (
    AccountConfig,
    BrokerConfig,
    Config,
    EngineConfig,
    FollowerConfig,
    LoggingConfig,
    MetricsConfig,
    StoreConfig,
)
from dhan.codes import ExchangeSegment, OrderType, ProductType, TransactionType, Validity
from dhan.models import OrderRequest


def nse_order(
    security_id: str,
    quantity: int,
    order_type: OrderType,
    side: TransactionType = TransactionType.BUY,
    *,
    price: float = 0.0,
    trigger: float | None = None,
    product: ProductType = ProductType.INTRADAY,
    bo_profit_value: float | None = None,
    bo_stop_loss_value: float | None = None,
) -> OrderRequest:
    """A DAY order on NSE_EQ (``price`` 0 for MARKET; ``trigger`` for SL, SL-M and CO)."""
    return OrderRequest(
        transaction_type=side,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=product,
        order_type=order_type,
        validity=Validity.DAY,
        security_id=security_id,
        quantity=quantity,
        price=price,
        trigger_price=trigger,
        bo_profit_value=bo_profit_value,
        bo_stop_loss_value=bo_stop_loss_value,
    )


def sim_engine_config(
    rest_url: str,
    feed_url: str,
    workdir: Path,
    leader: AccountConfig,
    followers: Iterable[FollowerConfig],
    *,
    store_file: str = "journal.db",
    engine: EngineConfig | None = None,
    ping_s: float | None = None,
    metrics_port: int | None = None,
    log_level: str = "WARNING",
) -> Config:
    """The engine against the simulator at ``rest_url`` / ``feed_url``: SQLite journal
    ``workdir/store_file``, audit trail ``workdir/audit.jsonl``; ``engine``'s settings (else
    production's); ``ping_s``: the order feed's ping interval and timeout (else production's);
    metrics and health served on ``metrics_port`` (0: any free port; None: off)."""
    broker = BrokerConfig(embedded_sim=False, rest_url=rest_url, order_feed_url=feed_url)
    if ping_s is not None:
        broker = replace(broker, feed_ping_interval_s=ping_s, feed_ping_timeout_s=ping_s)
    return Config(
        leader=leader,
        followers=tuple(followers),
        broker=broker,
        engine=replace(engine or EngineConfig(), audit_path=str(workdir / "audit.jsonl")),
        store=StoreConfig(url=f"sqlite:///{workdir / store_file}"),
        metrics=MetricsConfig(
            enabled=metrics_port is not None, host="127.0.0.1", port=metrics_port or 0
        ),
        logging=LoggingConfig(level=log_level),
    )
