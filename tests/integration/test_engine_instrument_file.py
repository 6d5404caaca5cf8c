"""Freeze quantities from the instrument file (``broker.instruments_url``), not from config.

NIFTY futures (``52175`` in dhansim's master): lot 65, freeze quantity 1,800 in the simulator's
scrip master file, so the largest order the exchange takes is 1,755 (27 lots). The simulator's
exchange rejects a plain order above 1,800 (``freeze_limit``), as NSE does.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from copytrader.config import Config
from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import ExchangeSegment, ProductType
from dhan.rest import DhanClient
from dhansim import Simulator
from tests.integration.engine_harness import (
    Rig,
    build_config,
    create_accounts,
    follower_config,
    limit_buy,
    wait_until,
)

NIFTY_FUT = "52175"
LARGEST_ORDER = 1755  # 27 lots of 65 within the freeze quantity 1,800

TRIPLE = follower_config("triple", "1200000101", multiplier=3.0)


def _start(sim: Simulator, tmp_path: Path, cfg: Config) -> Rig:
    create_accounts(sim, cfg)
    engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    wait_until(lambda: engine.ready()[0], 10.0, what="engine ready")
    leader = DhanClient(
        base_url=sim.rest_url,
        client_id=cfg.leader.client_id,
        access_token=cfg.leader.access_token.reveal(),
    )
    return Rig(sim=sim, cfg=cfg, engine=engine, leader=leader)


def _config(sim: Simulator, tmp_path: Path, *, instruments_url: str | None) -> Config:
    cfg = build_config(sim, tmp_path, [TRIPLE])
    return replace(cfg, broker=replace(cfg.broker, instruments_url=instruments_url))


def _copies(rig: Rig) -> list[dict[str, Any]]:
    return [o for o in rig.book(TRIPLE.client_id) if o["securityId"] == NIFTY_FUT]


def _place_leader_order(rig: Rig) -> str:
    order = limit_buy(
        NIFTY_FUT,
        quantity=LARGEST_ORDER,
        price=24900.0,
        exchange_segment=ExchangeSegment.NSE_FNO,
        product_type=ProductType.MARGIN,
    )
    return rig.leader.place_order(order).order_id


def test_a_copy_of_3x_the_files_freeze_quantity_goes_out_as_slices_and_the_leaders_cancel_ends_all(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_ltp("NSE_FNO", NIFTY_FUT, 25000.0)  # the limit rests below the market
    cfg = _config(sim, tmp_path, instruments_url=sim.instruments_url)
    assert cfg.engine.freeze_quantities == {}  # the freeze quantity comes from the file only
    rig = _start(sim, tmp_path, cfg)
    try:
        assert rig.engine.engine_settings.freeze_quantities[f"NSE_FNO:{NIFTY_FUT}"] == 1800
        leader_order = _place_leader_order(rig)
        # 3 x 27 lots = 81 lots: three orders of 27 lots, each accepted by the exchange
        wait_until(
            lambda: (
                sorted((o["quantity"], o["orderStatus"]) for o in _copies(rig))
                == [(LARGEST_ORDER, "PENDING")] * 3
            ),
            10.0,
            what="three pending slices of 1,755",
        )
        cids = {o["correlationId"] for o in _copies(rig)}
        assert len(cids) == 3  # each slice its own deterministic correlationId
        rig.leader.cancel_order(leader_order)
        wait_until(
            lambda: [o["orderStatus"] for o in _copies(rig)] == ["CANCELLED"] * 3,
            10.0,
            what="every slice cancelled",
        )
    finally:
        rig.stop()


def test_without_a_freeze_quantity_the_copy_goes_whole_and_the_exchange_rejects_it(
    sim: Simulator, tmp_path: Path
) -> None:
    """The control: what the file prevents."""
    sim.admin.set_ltp("NSE_FNO", NIFTY_FUT, 25000.0)
    rig = _start(sim, tmp_path, _config(sim, tmp_path, instruments_url=None))
    try:
        _place_leader_order(rig)
        (copy,) = wait_until(
            lambda: [o for o in _copies(rig) if o["orderStatus"] == "REJECTED"] or None,
            10.0,
            what="the whole copy rejected",
        )
        assert copy["quantity"] == 3 * LARGEST_ORDER
        assert "freeze quantity 1800" in copy["omsErrorDescription"]
    finally:
        rig.stop()


def test_the_configured_freeze_quantity_wins_over_the_files(sim: Simulator, tmp_path: Path) -> None:
    sim.admin.set_ltp("NSE_FNO", NIFTY_FUT, 25000.0)
    cfg = _config(sim, tmp_path, instruments_url=sim.instruments_url)
    cfg = replace(cfg, engine=replace(cfg.engine, freeze_quantities={f"NSE_FNO:{NIFTY_FUT}": 1000}))
    rig = _start(sim, tmp_path, cfg)
    try:
        _place_leader_order(rig)
        # 81 lots in pieces of at most 15 lots (975): 5 x 975 + 390
        wait_until(
            lambda: sorted(o["quantity"] for o in _copies(rig)) == [390] + [975] * 5,
            10.0,
            what="pieces of the configured freeze quantity",
        )
    finally:
        rig.stop()


def test_an_unreadable_instrument_file_is_logged_and_the_engine_starts_without_it(
    sim: Simulator, tmp_path: Path, caplog: Any
) -> None:
    broken = tmp_path / "scrip.csv"
    broken.write_text("EXCH_ID,SEGMENT,SECURITY_ID,LOT_SIZE\nNSE,D,52175,sixty-five\n")
    rig = _start(sim, tmp_path, _config(sim, tmp_path, instruments_url=str(broken)))
    try:
        assert rig.engine.engine_settings.freeze_quantities == {}
        assert f"{broken} line 2: LOT_SIZE 'sixty-five' is not a number" in caplog.text
    finally:
        rig.stop()
