"""Tokens that renew themselves: ``RenewToken`` before expiry, PIN + TOTP when renewal cannot.

:class:`copytrader.token_watch.TokenWatch` reads every account's token expiry; for each account it
then asks :func:`plan` what to do, and :class:`TokenKeeper` does it:

- **renew** (``GET /v2/RenewToken``) once the token has less than ``renew_before_s`` left and
  the account allows renewal (``renew: true``, the default);
- **generate** (``POST /app/generateAccessToken`` with the PIN and a TOTP code) when the token
  no longer works (it lapsed while the engine was down, a newer login replaced it) or Dhan
  refused to renew it, if the account has ``auth`` configured;
- otherwise nothing: the follower pauses alone on its first refused write (as with any DH-901),
  the expiry alert fires, and the operator's manual path (new token in the env file, SIGHUP)
  still works.

Every new token is written to the :class:`~copytrader.token_store.TokenStore` and added to the
log scrubber *before* it is used, then handed to the engine (the account's REST client, its
follower actor, the leader's order socket: it reconnects and reconciles as after any drop).
Nothing here logs a token, a PIN, a TOTP secret or a URL carrying them.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from copytrader.config import AccountConfig, Config, FollowerConfig, Secret
from copytrader.engine import Engine
from copytrader.token_store import (
    StoredToken,
    TokenStore,
    TokenStoreError,
    choose_token,
    default_store_path,
    fingerprint,
)
from copytrader.token_watch import TokenWatch, parse_token_validity
from dhan import errors
from dhan.auth import AUTH_BASE_URL, IssuedToken, generate_access_token, totp_now
from dhan.rest import DhanClient

logger = logging.getLogger(__name__)

#: After a failed attempt that may pass (network, 5xx), try again this soon.
RETRY_S = 30.0
#: Never check more often than this (a short-lived test token still gets one check per step).
MIN_CHECK_S = 0.2


class Step(enum.Enum):
    NOTHING = "nothing"
    RENEW = "renew"
    GENERATE = "generate"
    STUCK = "stuck"  # the token does not work and nothing can replace it: the operator must


@dataclass(frozen=True, slots=True)
class AccountAuth:
    """How the engine may replace one account's token."""

    renew: bool = True
    pin: str = field(default="", repr=False)  # secrets
    totp_secret: str = field(default="", repr=False)

    @property
    def can_generate(self) -> bool:
        return bool(self.pin and self.totp_secret)

    @property
    def self_renewing(self) -> bool:
        return self.renew or self.can_generate


def plan(
    *,
    now: float,
    expires_at: float | None,
    refused: bool,
    auth: AccountAuth,
    renew_before_s: float,
    renew_refused: bool = False,
) -> Step:
    """What to do for one account. ``refused``: Dhan rejected the token (DH-901/906);
    ``renew_refused``: a renewal of this token was refused (it was not renewable)."""
    if refused or renew_refused:
        return Step.GENERATE if auth.can_generate else Step.STUCK
    if expires_at is None or expires_at - now > renew_before_s:
        return Step.NOTHING
    if auth.renew:
        return Step.RENEW
    # renewal off (the account's token is shared with other tools): leave it to the operator
    return Step.NOTHING


def next_check_in(
    *, now: float, due_at: list[float], interval_s: float, min_s: float = MIN_CHECK_S
) -> float:
    """Seconds until the next round: the earliest moment an account becomes due for renewal
    (``expires_at - renew_before_s``) or a retry, at most ``interval_s``, at least ``min_s``."""
    wait = interval_s
    for at in due_at:
        wait = min(wait, at - now)
    return max(wait, min_s)


def auth_url_for(rest_url: str, configured: str | None = None) -> str:
    """Where PIN + TOTP logins go: the configured URL; Dhan's auth host for Dhan's API hosts;
    else the REST URL's origin (the simulator serves ``/app/generateAccessToken`` itself)."""
    if configured:
        return configured.rstrip("/")
    parts = urlsplit(rest_url)
    host = parts.hostname or ""
    if host == "dhan.co" or host.endswith(".dhan.co"):
        return AUTH_BASE_URL
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class _State:
    """What the keeper remembers of one account between rounds."""

    expires_at: float | None = None
    renew_refused: bool = False
    retry_at: float = 0.0  # Unix time; 0 = no pending retry
    failing: bool = False


class TokenKeeper:
    """Replaces tokens for the accounts it is given; called from the token watch's thread."""

    def __init__(
        self,
        *,
        store: TokenStore,
        auth: Mapping[str, AccountAuth],
        seeds: Mapping[str, str],
        apply: Callable[[str, str], None],
        scrub: Callable[[list[str]], None],
        renew_before_s: float,
        auth_url: str,
        on_outcome: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``seeds``: account -> the environment token its chain started from (for the store);
        ``apply(account, token)`` hands a new token to the engine; ``scrub(values)`` adds
        secrets to the log filter; ``on_outcome(account, outcome)`` counts ``renewed`` /
        ``generated`` / ``failed``."""
        self.store = store
        self.auth = dict(auth)
        self.seeds = {name: fingerprint(token) for name, token in seeds.items()}
        self.apply = apply
        self.scrub = scrub
        self.renew_before_s = renew_before_s
        self.auth_url = auth_url
        self.on_outcome = on_outcome or (lambda _account, _outcome: None)
        self.clock = clock
        self._state: dict[str, _State] = {}

    def update_seeds(self, seeds: Mapping[str, str]) -> None:
        """After a reload: a changed environment token starts a new chain."""
        for name, token in seeds.items():
            seed = fingerprint(token)
            if self.seeds.get(name) != seed:
                self.seeds[name] = seed
                self._state.pop(name, None)

    def failing(self, account: str) -> bool:
        state = self._state.get(account)
        return state is not None and state.failing

    def self_renewing(self, account: str) -> bool:
        """1 for the expiry alert: the engine keeps this token fresh and is not failing at it."""
        auth = self.auth.get(account, AccountAuth(renew=False))
        return auth.self_renewing and not self.failing(account)

    def due_at(self) -> list[float]:
        """When each account next needs a look (renewal point or retry)."""
        out = []
        for state in self._state.values():
            if state.retry_at:
                out.append(state.retry_at)
            elif state.expires_at is not None:
                out.append(state.expires_at - self.renew_before_s)
        return out

    def tend(
        self, account: str, client: DhanClient, expires_at: float | None, refused: bool
    ) -> float | None:
        """One account's turn after its expiry was read (``refused``: Dhan rejected the token).
        Returns the new expiry when a token was replaced, else ``expires_at``."""
        state = self._state.setdefault(account, _State())
        now = self.clock()
        if expires_at is not None:
            state.expires_at = expires_at
        if state.retry_at and now < state.retry_at:
            return expires_at
        auth = self.auth.get(account, AccountAuth(renew=False))
        step = plan(
            now=now,
            expires_at=state.expires_at,
            refused=refused,
            auth=auth,
            renew_before_s=self.renew_before_s,
            renew_refused=state.renew_refused,
        )
        if step is Step.NOTHING:
            state.failing = False
            return expires_at
        if step is Step.STUCK:
            if not state.failing:
                logger.error(
                    "token of %s does not work and cannot be replaced (%s): put a new token in "
                    "the env file, then SIGHUP",
                    account,
                    "its renewal was refused and no auth (PIN + TOTP) is configured"
                    if state.renew_refused
                    else "no auth (PIN + TOTP) is configured",
                )
                self.on_outcome(account, "failed")
            state.failing = True
            return expires_at
        try:
            issued = self._obtain(step, account, client)
        except errors.AuthError as exc:
            self.on_outcome(account, "failed")
            state.failing = True
            if step is Step.RENEW:
                state.renew_refused = True  # next: generate if configured, else stuck
                logger.warning("token renewal of %s refused (%s)", account, exc.code or exc)
                return self.tend(account, client, None, refused=False)
            logger.error(
                "token generation of %s refused (%s): check its PIN and TOTP secret",
                account,
                exc.code or "no code",
            )
            state.retry_at = now + RETRY_S
            return expires_at
        except errors.DhanError as exc:
            self.on_outcome(account, "failed")
            state.failing = True
            state.retry_at = now + RETRY_S
            logger.warning(
                "token %s of %s failed, retrying in %.0f s: %s",
                step.value,
                account,
                RETRY_S,
                type(exc).__name__,
            )
            return expires_at
        new_expiry = _expiry_of(issued)
        try:
            self._use(account, issued, step, new_expiry)
        finally:
            client.token_change_ended()  # taken (update_token ended it) or lost: stop waiting
        state.expires_at = new_expiry
        state.renew_refused = False
        state.retry_at = 0.0
        state.failing = False
        self.on_outcome(account, "renewed" if step is Step.RENEW else "generated")
        return new_expiry

    def _obtain(self, step: Step, account: str, client: DhanClient) -> IssuedToken:
        if step is Step.RENEW:
            return client.renew_token()
        auth = self.auth[account]
        totp = totp_now(auth.totp_secret)
        self.scrub([totp])  # short-lived, but a log line must never show one
        return generate_access_token(client.client_id, auth.pin, totp, auth_base_url=self.auth_url)

    def _use(self, account: str, issued: IssuedToken, step: Step, expires_at: float | None) -> None:
        token = issued.access_token
        self.scrub([token])  # before anything could print it
        seed = self.seeds.get(account, "")
        how = "renewed" if step is Step.RENEW else "generated"
        try:
            self.store.put(
                account,
                StoredToken(token, seed, expires_at, updated_at=self.clock(), how=how),
            )
        except TokenStoreError as exc:
            # The old token is already dead at Dhan: use the new one anyway, and say loudly
            # that a restart will need a fresh token (or PIN + TOTP) for this account.
            logger.error(
                "token of %s %s but not stored (%s): a restart cannot reuse it", account, how, exc
            )
        self.apply(account, token)
        logger.info("token of %s %s (expires %s)", account, how, issued.expiry_time or "unknown")


def _expiry_of(issued: IssuedToken) -> float | None:
    return parse_token_validity(issued.expiry_time)


# --- wiring: the config's tokens through the store ----------------------------------------


def accounts_of(cfg: Config) -> dict[str, AccountConfig | FollowerConfig]:
    """Every account by the name the engine's clients use (``leader`` and follower names)."""
    return {"leader": cfg.leader, **{f.name: f for f in cfg.followers}}


def with_stored_tokens(cfg: Config, store: TokenStore) -> tuple[Config, dict[str, str]]:
    """``cfg`` with each account's token taken from the store where the store holds a newer
    one of the same chain (:func:`~copytrader.token_store.choose_token`); and per account
    where its token came from (``store`` | ``environment``)."""
    stored = store.load()
    sources: dict[str, str] = {}

    def pick(name: str, env: Secret) -> Secret:
        token, source = choose_token(env.reveal(), stored.get(name))
        sources[name] = source
        return env if source == "environment" else Secret(token)

    leader = dataclasses.replace(cfg.leader, access_token=pick("leader", cfg.leader.access_token))
    followers = tuple(
        dataclasses.replace(f, access_token=pick(f.name, f.access_token)) for f in cfg.followers
    )
    return dataclasses.replace(cfg, leader=leader, followers=followers), sources


def keeper_for(
    cfg: Config,
    env_cfg: Config,
    store: TokenStore,
    apply: Callable[[str, str], None],
    scrub: Callable[[list[str]], None],
    on_outcome: Callable[[str, str], None] | None = None,
    rest_url: str | None = None,
) -> TokenKeeper:
    """The keeper of a running engine: ``env_cfg`` is the config as loaded (its tokens seed
    the store's chains), ``cfg`` its copy with the store's tokens; ``rest_url`` the broker the
    engine talks to (default: the config's)."""
    auth = {
        name: AccountAuth(
            renew=account.renew,
            pin=account.auth.pin.reveal() if account.auth else "",
            totp_secret=account.auth.totp_secret.reveal() if account.auth else "",
        )
        for name, account in accounts_of(cfg).items()
    }
    seeds = {name: a.access_token.reveal() for name, a in accounts_of(env_cfg).items()}
    return TokenKeeper(
        store=store,
        auth=auth,
        seeds=seeds,
        apply=apply,
        scrub=scrub,
        renew_before_s=cfg.tokens.renew_before_s,
        auth_url=auth_url_for(rest_url or cfg.broker.rest_url, cfg.tokens.auth_url),
        on_outcome=on_outcome,
    )


def store_for(cfg: Config, config_path: str | None) -> TokenStore:
    path = cfg.tokens.store_path
    return TokenStore(path if path else default_store_path(cfg.store.url, config_path))


def watch_tokens(
    engine: Engine,
    env_cfg: Config,
    cfg: Config,
    store: TokenStore,
    scrub: Callable[[list[str]], None],
    interval_s: float = 900.0,
) -> TokenWatch:
    """Start the token watch of a running engine, renewing and regenerating its tokens:
    ``env_cfg`` as loaded (its tokens seed the store's chains), ``cfg`` with the store's
    tokens (what the engine runs with)."""
    metrics = engine.metrics

    def count(account: str, outcome: str) -> None:
        metrics.token_renewals.labels(account, outcome).inc()

    # the REST URL the engine talks to (the embedded simulator's, when it runs one)
    rest_url = engine.endpoints.rest_url
    keeper = keeper_for(cfg, env_cfg, store, engine.apply_token, scrub, count, rest_url)
    return TokenWatch(engine.clients, metrics, interval_s=interval_s, keeper=keeper).start()
