"""The chaos suite's random leader trades against its own positions: ``reduce`` leaves part of
one open, ``close`` flattens it, ``flip`` takes it through zero -- on a real simulator, read
back from its ``GET /positions``; and the position check reads the same accounts' trades."""

from __future__ import annotations

from copytrader.chaos import PLAIN_LTPS, RandomLeader
from copytrader.checker import plain_fills
from copytrader.scripted import nse_order
from dhan.codes import OrderType, TransactionType
from dhan.rest import DhanClient
from dhansim import Simulator
from dhansim.pytest_plugin import new_account


def net(client: DhanClient, security_id: str) -> int:
    return sum(p.net_qty for p in client.positions() if p.security_id == security_id)


def test_reduce_close_and_flip_move_the_leaders_own_position(sim: Simulator) -> None:
    account = new_account(sim)
    client = DhanClient(
        base_url=sim.rest_url, client_id=account.client_id, access_token=account.access_token
    )
    try:
        leader = RandomLeader(client, lambda sec, ltp: sim.admin.set_ltp("NSE_EQ", sec, ltp), 7)
        leader.open_market()
        # flat everywhere: an exit move trades at the market instead
        first = leader.step("close")
        assert first.ok and first.kind == "market", first
        for sec in PLAIN_LTPS:  # one open position only: the moves below all act on it
            held = net(client, sec)
            if held:
                side = TransactionType.SELL if held > 0 else TransactionType.BUY
                client.place_order(nse_order(sec, abs(held), OrderType.MARKET, side))
        client.place_order(nse_order("1333", 12, OrderType.MARKET, TransactionType.BUY))
        assert net(client, "1333") == 12

        reduced = leader.step("reduce")
        assert reduced.kind == "reduce" and "against 12" in reduced.detail, reduced
        after_reduce = net(client, "1333")
        assert 0 < after_reduce < 12
        leader.step("close")
        assert net(client, "1333") == 0
        client.place_order(nse_order("1333", 5, OrderType.MARKET, TransactionType.SELL))
        flipped = leader.step("flip")
        assert "against -5" in flipped.detail, flipped
        assert net(client, "1333") > 0
        assert leader.counts["reduce"] == leader.counts["close"] == leader.counts["flip"] == 1

        # the trade book, read as the checker reads it: every fill, signed, in time order
        fills = plain_fills(client.trades(), sim.admin.orders(account.client_id))
        assert sum(f.qty for f in fills if f.key[1] == "1333") == net(client, "1333")
        assert fills[-1].order_id == flipped.order_id and fills[-1].qty > 5
    finally:
        client.close()
