"""A SIGHUP with a hostile or broken config file: the running engine logs why, keeps its config
and goes on copying (``python -m copytrader run`` in a subprocess, against an in-process dhansim).
"""

from __future__ import annotations

import signal
from pathlib import Path

from copytrader.config import MAX_YAML_ALIASES, MAX_YAML_DEPTH
from dhan.rest import DhanClient
from dhansim import Simulator
from tests.integration.cli_rig import Output, make_cli_rig
from tests.integration.engine_harness import limit_buy, wait_until


def _laughs(levels: int, fan_out: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * fan_out)}]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan_out)}]")
    return "\n".join(lines) + "\n"


def test_a_sighup_with_an_alias_bomb_deep_nesting_or_a_crlf_token_keeps_the_running_config(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=2910000000)
    ana = rig.followers[0]
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    good = rig.config.read_text()
    # YAML escapes: the loaded token holds a real CR/LF (a header injection, were it sent)
    crlf_token = "ana-crlf-secret-Tb4\\r\\nX-Injected: 1"
    bad_files = {
        "alias bomb": (good + _laughs(levels=8, fan_out=9), "aliases (*name)"),
        "deep nesting": (good + "x: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper"),
        "crlf token": (
            good.replace(f"access_token: '${{{ana.var}}}'", f'access_token: "{crlf_token}"'),
            "followers[0].access_token: must be printable ASCII without spaces; "
            "it holds a control character such as CR or LF",
        ),
    }
    proc = rig.popen("run")
    out = Output(proc)
    try:
        seen = out.wait_for("follower ana")
        for name, (text, expected) in bad_files.items():
            rig.config.write_text(text)
            proc.send_signal(signal.SIGHUP)
            seen = out.wait_for("SIGHUP: config not reloaded", after=seen + 1)
            assert expected in out.lines[seen], (name, out.lines[seen])
        assert f"more than {MAX_YAML_ALIASES} aliases" in out.text
        assert f"nested deeper than {MAX_YAML_DEPTH} levels" in out.text

        # still the same process, still copying with the config it started with
        assert proc.poll() is None
        with DhanClient(
            base_url=sim.rest_url, client_id=rig.leader.client_id, access_token=rig.leader.token
        ) as leader:
            order = leader.place_order(limit_buy(quantity=3, price=1500.0)).order_id
        wait_until(
            lambda: any(
                o.get("quantity") == 3 and o.get("orderStatus") == "PENDING"
                for o in sim.admin.orders(ana.client_id)
            ),
            what=f"ana's copy of {order}",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        status = out.finish()
    assert status == 0, out.text
    assert "Traceback" not in out.text
    assert "config reloaded" not in out.text
    rig.assert_no_token_in(out.text)
    assert "ana-crlf-secret-Tb4" not in out.text
