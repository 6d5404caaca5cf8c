"""``python -m copytrader run``: load the config, start the engine, serve health, handle signals.

SIGTERM / SIGINT: stop taking leader events (the feed stops first), let in-flight sends finish
(each is journaled before it goes out), stop the actors in order, exit 0 within 10 s.
SIGHUP: reload tokens and follower ``enabled`` flags. Exit 1 when the root supervisor gives up,
so systemd restarts the process; exit 2 for a bad config. A stop that is not done within
``STOP_DEADLINE_S`` (an actor stuck in a broker call) ends the process anyway: every send was
journaled before it went out, so the next start resolves it by its correlationId.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from copytrader.config import (
    AccountConfig,
    Config,
    ConfigError,
    FollowerConfig,
    config_summary,
    load_config,
)
from copytrader.engine import BrokerEndpoints, Engine
from copytrader.health import HealthServer
from copytrader.logs import add_secrets, setup_logging
from copytrader.token_renewal import accounts_of, store_for, watch_tokens, with_stored_tokens
from copytrader.token_store import TokenStore, TokenStoreError
from copytrader.token_watch import TokenWatch
from store.errors import StoreUnavailable

logger = logging.getLogger("copytrader")

#: From the stop signal (or the give-up) to the process's end, whatever the actors do. The
#: issue's contract is "exit within 10 s"; systemd's TimeoutStopSec (15 s) is the SIGKILL.
STOP_DEADLINE_S = 9.0

#: Starting balance of every embedded-simulator account (INR).
EMBEDDED_BALANCE_INR = 10_000_000.0


def secrets_of(cfg: Config) -> list[str]:
    """Every secret of the config the log filter scrubs: access tokens and proxy passwords."""
    out = [cfg.leader.access_token.reveal()] + [f.access_token.reveal() for f in cfg.followers]
    for auth in [cfg.leader.auth] + [f.auth for f in cfg.followers]:
        if auth is not None:
            out += [auth.pin.reveal(), auth.totp_secret.reveal()]
    egresses = [cfg.leader.egress] + [f.egress for f in cfg.followers]
    for egress in egresses:
        proxy = egress.proxy if egress is not None else None
        password = urlsplit(proxy).password if proxy else None
        if password:
            out += [password, unquote(password)]
    return out


#: Names a KEY=VALUE file (systemd's EnvironmentFile) that is re-read on every load, so a
#: SIGHUP picks up rotated tokens; systemd itself reads EnvironmentFile only at start.
ENV_FILE_VAR = "COPYTRADER_ENV_FILE"


def config_env() -> dict[str, str]:
    """The environment for ``${VAR}`` expansion: the process's, overlaid by the env file."""
    env = dict(os.environ)
    path = env.get(ENV_FILE_VAR)
    if not path:
        return env
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(ENV_FILE_VAR, f"cannot read {path}: {exc.strerror or exc}") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}", "expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def load_or_exit(path: str) -> Config | int:
    """The config, or exit status 2 after printing the one-line error naming the key."""
    try:
        return load_config(path, config_env())
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"config error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2


@contextlib.contextmanager
def broker_endpoints(cfg: Config) -> Iterator[tuple[BrokerEndpoints, Any]]:
    """The broker to talk to: the embedded simulator (with an account per configured account),
    or the configured URLs. Yields ``(endpoints, sim or None)``."""
    if not cfg.broker.embedded_sim:
        yield BrokerEndpoints(cfg.broker.rest_url, cfg.broker.order_feed_url), None
        return
    import dhansim

    s = cfg.broker.sim
    with dhansim.running(seed=s.seed, host=s.host, port=s.port) as sim:
        accounts: list[AccountConfig | FollowerConfig] = [cfg.leader, *cfg.followers]
        for account in accounts:
            sim.admin.create_account(
                account.client_id,
                account.access_token.reveal(),
                available_balance=EMBEDDED_BALANCE_INR,
            )
        logger.info("embedded DhanHQ simulator at %s (%d accounts)", sim.rest_url, len(accounts))
        yield BrokerEndpoints(sim.rest_url, sim.order_feed_url), sim


def run(args: argparse.Namespace) -> int:
    loaded = load_or_exit(args.config)
    if isinstance(loaded, int):
        return loaded
    env_cfg = loaded
    setup_logging(
        args.log_level or env_cfg.logging.level,
        args.log_format or env_cfg.logging.format,
        secrets_of(env_cfg),
    )
    token_store = store_for(env_cfg, args.config)
    try:  # a renewed token in the store outlives the environment's (which it expired)
        cfg, sources = with_stored_tokens(env_cfg, token_store)
    except TokenStoreError as exc:
        logger.critical("token store: %s (tokens.store_path)", exc)
        return 2
    add_secrets(secrets_of(cfg))
    from_store = sorted(name for name, source in sources.items() if source == "store")
    if from_store:
        logger.info("tokens from the token store %s: %s", token_store.path, ", ".join(from_store))
    stop = threading.Event()
    reload_requested = threading.Event()
    wake = threading.Event()  # set by every signal; the main loop looks at what was asked

    def on_stop(signum: int, _frame: Any) -> None:
        logger.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()
        wake.set()

    def on_hup(_signum: int, _frame: Any) -> None:
        reload_requested.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)

    with broker_endpoints(cfg) as (endpoints, _sim):
        engine = Engine(cfg, endpoints=endpoints)
        health = None
        if cfg.metrics.enabled:  # before the engine: a taken port must not leave actors behind
            m = cfg.metrics
            try:
                health = HealthServer(engine.metrics.registry, engine.ready, m.host, m.port)
            except OSError as exc:
                logger.critical(
                    "cannot serve metrics and health on %s:%d (metrics.host / metrics.port): %s",
                    m.host,
                    m.port,
                    exc.strerror or exc,
                )
                return 1
            health.start()
            logger.info("metrics and health at %s/metrics", health.url)
        try:
            started = _start_when_the_store_is_up(engine, stop, wake)
        except Exception as exc:
            logger.critical("engine failed to start: %s", exc)
            if health is not None:
                health.stop()
            exit_by(STOP_DEADLINE_S, 1)  # actors it did start must not keep the process alive
            return 1
        if not started:  # stopped while waiting for the store
            if health is not None:
                health.stop()
            return 0
        gave_up = False
        failed = True  # until the main loop ends normally
        tokens: TokenWatch | None = None
        try:
            for line in config_summary(cfg):
                logger.info("follower %s", line)
            tokens = watch_tokens(engine, env_cfg, cfg, token_store, add_secrets)
            while True:
                wake.wait(0.5)
                wake.clear()
                if engine.gave_up.is_set():
                    gave_up = True
                    break
                if stop.is_set():  # a stop wins over a reload asked at the same moment
                    break
                if reload_requested.is_set():
                    reload_requested.clear()
                    if _reload(engine, args.config, token_store, tokens):
                        tokens.check_soon()
            failed = False
        finally:
            status = 1 if gave_up or failed else 0
            exit_by(STOP_DEADLINE_S, status)
            if tokens is not None:
                tokens.stop()
            clean = engine.stop(timeout_s=STOP_DEADLINE_S - 2.0)
            if health is not None:
                health.stop()
        if gave_up:
            logger.critical("exiting with status 1: %s", engine.give_up_reason)
        else:
            logger.info("stopped %s", "cleanly" if clean else "(some actors did not stop in time)")
        if not clean:
            # an abandoned actor thread is not a daemon: the interpreter would wait for it
            _exit_now(status)
        return status


def _start_when_the_store_is_up(
    engine: Engine, stop: threading.Event, wake: threading.Event
) -> bool:
    """Start the engine; while the store is unavailable (a database still starting, a full
    disk) wait and try again with a backoff, for as long as it takes -- an outage is not a
    reason to exit (systemd would give up after a few quick restarts). False: stopped while
    waiting. Any other error (another engine holds the lease, a newer schema) raises."""
    delay_s = 0.5
    while True:
        try:
            engine.start()
            engine.start_blocked = None
            return True
        except StoreUnavailable as exc:
            engine.start_blocked = str(exc)
            logger.error("store unavailable at start (%s): trying again in %.1f s", exc, delay_s)
        while wake.wait(delay_s):
            wake.clear()
            if stop.is_set():
                return False
        delay_s = min(delay_s * 2, 30.0)


def exit_by(deadline_s: float, status: int) -> threading.Timer:
    """End the process with ``status`` after ``deadline_s`` unless it has ended by then."""
    timer = threading.Timer(deadline_s, _exit_now, args=(status, deadline_s))
    timer.daemon = True  # a process that ends in time does not wait for it
    timer.start()
    return timer


def _exit_now(status: int, after_s: float | None = None) -> None:
    if after_s is not None:
        logger.error(
            "stop not done after %.0f s: exiting with status %d without waiting for the "
            "remaining actors (their sends are journaled; the next start resolves them)",
            after_s,
            status,
        )
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _reload(engine: Engine, path: str, store: TokenStore, tokens: TokenWatch) -> bool:
    try:
        loaded = load_config(path, config_env())
        new, _sources = with_stored_tokens(loaded, store)
    except (ConfigError, OSError, TokenStoreError) as exc:
        logger.error("SIGHUP: config not reloaded: %s", exc)
        return False
    add_secrets(secrets_of(loaded) + secrets_of(new))  # scrubbed from the logs from now on
    if tokens.keeper is not None:  # a changed environment token starts a new chain
        seeds = {name: a.access_token.reveal() for name, a in accounts_of(loaded).items()}
        tokens.keeper.update_seeds(seeds)
    engine.reload(new)
    return True
