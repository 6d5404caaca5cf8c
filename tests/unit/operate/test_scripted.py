"""``copytrader.scripted``: the config of an engine against a listening simulator (demo,
benchmarks) and the NSE order the scripted leaders place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from copytrader.config import AccountConfig, BrokerConfig, EngineConfig, Secret
from copytrader.scripted import nse_order, sim_engine_config
from dhan.codes import ExchangeSegment, OrderType, ProductType, TransactionType, Validity

LEADER = AccountConfig(client_id="1000000001", access_token=Secret("t"))
PRODUCTION = BrokerConfig()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {},
            {
                "ping": (PRODUCTION.feed_ping_interval_s, PRODUCTION.feed_ping_timeout_s),
                "metrics": (False, 0),
                "store": "sqlite:////w/journal.db",
                "follower_tick_s": EngineConfig().follower_tick_s,
                "log": "WARNING",
            },
        ),
        (
            {
                "ping_s": 2.0,
                "metrics_port": 0,
                "store_file": "demo.db",
                "engine": EngineConfig(follower_tick_s=0.5),
                "log_level": "INFO",
            },
            {
                "ping": (2.0, 2.0),
                "metrics": (True, 0),
                "store": "sqlite:////w/demo.db",
                "follower_tick_s": 0.5,
                "log": "INFO",
            },
        ),
    ],
)
def test_sim_engine_config(options: dict[str, Any], expected: dict[str, Any]) -> None:
    cfg = sim_engine_config(
        "http://127.0.0.1:1", "ws://127.0.0.1:2", Path("/w"), LEADER, (), **options
    )
    got = {
        "ping": (cfg.broker.feed_ping_interval_s, cfg.broker.feed_ping_timeout_s),
        "metrics": (cfg.metrics.enabled, cfg.metrics.port),
        "store": cfg.store.url,
        "follower_tick_s": cfg.engine.follower_tick_s,
        "log": cfg.logging.level,
    }
    assert got == expected
    assert (cfg.broker.embedded_sim, cfg.broker.rest_url, cfg.broker.order_feed_url) == (
        False,
        "http://127.0.0.1:1",
        "ws://127.0.0.1:2",
    )
    assert cfg.engine.audit_path == "/w/audit.jsonl"  # beside the journal, never in the checkout


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (
            ("1333", 10, OrderType.MARKET),
            {},
            (TransactionType.BUY, 0.0, None, ProductType.INTRADAY),
        ),
        (
            ("2885", 5, OrderType.STOP_LOSS, TransactionType.SELL),
            {"price": 99.0, "trigger": 100.0},
            (TransactionType.SELL, 99.0, 100.0, ProductType.INTRADAY),
        ),
        (
            ("11536", 4, OrderType.LIMIT),
            {"price": 3500.0, "product": ProductType.BO, "bo_profit_value": 20.0},
            (TransactionType.BUY, 3500.0, None, ProductType.BO),
        ),
    ],
)
def test_nse_order(
    args: tuple[Any, ...], kwargs: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    req = nse_order(*args, **kwargs)
    assert (req.transaction_type, req.price, req.trigger_price, req.product_type) == expected
    assert (req.exchange_segment, req.validity) == (ExchangeSegment.NSE_EQ, Validity.DAY)
    assert (req.security_id, req.quantity, req.order_type) == args[:3]
    assert req.bo_profit_value == kwargs.get("bo_profit_value")
