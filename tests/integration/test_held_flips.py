"""A leader flip first seen while the follower's copy of an earlier flip of the position is
held (its entry unconfirmed): the later flip's basis cannot see what the held copy will open,
so its copy waits behind the held one and is sized when that one has gone
(``actors.exit_holds``: held behind, F taken anew). Judged by the broker's positions."""

from __future__ import annotations

from pathlib import Path

from actors import exit_holds, exit_sizing
from dhan.codes import OrderType, TransactionType
from dhan.models import OrderRequest
from dhansim import Simulator
from tests.integration.engine_harness import follower_config, limit_buy, start_rig, wait_until
from tests.integration.test_position_exits import (
    LTP,
    SEC,
    broker_net,
    copy_of,
    filled,
    journal_net,
    settled,
)


def market(qty: int, side: TransactionType) -> OrderRequest:
    return limit_buy(
        SEC, quantity=qty, price=0.0, order_type=OrderType.MARKET, transaction_type=side
    )


def test_a_flip_behind_a_held_flip_is_sized_once_the_held_one_has_gone(
    sim: Simulator, tmp_path: Path
) -> None:
    """The leader goes short 6 (a resting SELL; its copy rests), flips long 2 (BUY 8: held,
    the follower's short unconfirmed), then at once flips short 12 (SELL 14). The follower's
    SELL 14 must close the 2 the held BUY 8 opens: sized when the held copy has gone, not at
    first sight (then the follower held nothing long: it would have sold 12 and ended -10)."""
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    f = follower_config("f", "1720000001")
    rig = start_rig(sim, tmp_path, [f])
    try:
        entry = rig.leader.place_order(
            limit_buy(SEC, quantity=6, price=LTP + 50.0, transaction_type=TransactionType.SELL)
        ).order_id
        rig.wait_copies(entry, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        sim.admin.fill(entry)  # the leader's fills; its copy still rests: unconfirmed
        filled(rig, entry)
        wait_until(lambda: journal_net(rig.engine, exit_sizing.LEADER) == -6, what="leader -6")

        up = rig.leader.place_order(market(8, TransactionType.BUY)).order_id
        filled(rig, up)
        wait_until(
            lambda: getattr(copy_of(rig.engine, "f", up), "skip_reason", None) == exit_holds.HELD,
            what="the follower's BUY 8 held",
        )
        down = rig.leader.place_order(market(14, TransactionType.SELL)).order_id
        filled(rig, down)
        wait_until(
            lambda: (getattr(copy_of(rig.engine, "f", down), "skip_reason", None) or "").startswith(
                "held: "
            ),
            what="the follower's SELL 14 held behind the BUY 8",
        )
        assert rig.follower_copies(f, up) == rig.follower_copies(f, down) == []

        (rests,) = rig.follower_copies(f, entry)
        sim.admin.fill(rests["orderId"])  # the follower's short 6 confirmed: the holds go
        rig.wait_copies(down, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "TRADED")
        settled(rig)
        (bought,) = rig.follower_copies(f, up)
        (sold,) = rig.follower_copies(f, down)
        assert (bought["quantity"], sold["quantity"]) == (8, 14)
        assert int(bought["orderId"]) < int(sold["orderId"])  # in the leader's order
        assert broker_net(sim, rig.cfg.leader.client_id) == -12
        assert broker_net(sim, f.client_id) == -12
    finally:
        rig.stop()
