"""``python -m copytrader run`` killed right after a token renewal: the restart uses the store.

Renewal expires the token in the env file at once (one active token per account), so a restart
that took the env file's token would have every account refused. The renewed token was written to
the token store before it was used; the restarted engine takes it from there and copies on.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from copytrader.token_store import DEFAULT_FILE_NAME, TokenStore
from dhan import errors
from dhan.correlation import correlation_id_for
from dhan.rest import DhanClient
from dhansim import Simulator
from tests.integration.cli_rig import Output, make_cli_rig
from tests.integration.engine_harness import limit_buy, wait_until


def _renewed(store: TokenStore, accounts: tuple[str, ...]) -> bool:
    entries = store.load()
    return all(name in entries and entries[name].how == "renewed" for name in accounts)


def test_sigkill_right_after_a_renewal_then_a_restart_uses_the_renewed_token(
    sim: Simulator, tmp_path: Path
) -> None:
    # tokens live 20 s and are renewed once 17 s are left: each is renewed ~3 s after its issue
    rig = make_cli_rig(
        sim,
        tmp_path,
        ["ana"],
        id_base=3500000000,
        token_validity_s=20.0,
        extra_yaml="tokens: {renew_before_s: 17}",
    )
    store = TokenStore(tmp_path / DEFAULT_FILE_NAME)
    seen_tokens: set[str] = set(rig.tokens())
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)

    first = rig.popen("run", "--log-format", "json")
    out1 = Output(first)
    try:
        wait_until(lambda: _renewed(store, ("leader", "ana")), 30.0, what="both tokens renewed")
    finally:
        first.kill()  # SIGKILL: no clean stop, right after the renewals
        out1.finish()
    seen_tokens |= {s.token for s in store.load().values()}

    # the env file's tokens are dead now
    for account in rig.accounts:
        with (
            DhanClient(
                base_url=sim.rest_url, client_id=account.client_id, access_token=account.token
            ) as stale,
            pytest.raises(errors.AuthError),
        ):
            stale.profile()

    second = rig.popen("run", "--log-format", "json")
    out2 = Output(second)
    try:
        out2.wait_for("tokens from the token store", 30.0)
        out2.wait_for("order feed", 30.0)
        leader_id = rig.leader.client_id
        deadline = time.monotonic() + 30.0
        while True:  # the trader's own session: whatever token the account has now
            token = store.load()["leader"].token
            seen_tokens.add(token)
            try:
                with DhanClient(
                    base_url=sim.rest_url, client_id=leader_id, access_token=token
                ) as trader:
                    order_id = trader.place_order(limit_buy(quantity=4, price=1500.0)).order_id  # type: ignore[arg-type]
                break
            except errors.AuthError:  # renewed between our read and the call
                assert time.monotonic() < deadline
                wait_until(lambda t=token: store.load()["leader"].token != t, 10.0)  # type: ignore[misc]
        ana = rig.followers[0]
        cid = correlation_id_for("ana", order_id)
        copies = wait_until(
            lambda: [o for o in sim.admin.orders(ana.client_id) if o.get("correlationId") == cid],
            30.0,
            what="ana's copy",
        )
        assert len(copies) == 1 and copies[0]["quantity"] == 4
        assert '"follower ana paused' not in out2.text
    finally:
        second.terminate()
        out2.finish()
    seen_tokens |= {s.token for s in store.load().values()}
    for text in (out1.text, out2.text):
        for token in seen_tokens:
            assert token not in text, "a token leaked into the engine's output"
