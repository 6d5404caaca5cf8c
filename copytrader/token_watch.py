"""Token expiry watch: each account's ``GET /profile`` ``tokenValidity`` as a Prometheus gauge.

Dhan access tokens live at most 24 h, so an expiring token is the most routine way to stop
copying. ``run`` starts one :class:`TokenWatch` beside the engine: it reads every account's
profile at start, every ``interval_s`` and soon after a SIGHUP reload, and exports
``copytrader_token_expiry_timestamp_seconds{account}``; the alert ``CopytraderTokenExpiringSoon``
fires hours before the expiry. It uses the engine's own clients, so it sees reloaded tokens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from copytrader.metrics import Metrics
from dhan import errors
from dhan.rest import DhanClient

if TYPE_CHECKING:
    from copytrader.token_renewal import TokenKeeper

logger = logging.getLogger(__name__)

#: Dhan writes times in India Standard Time.
IST = timezone(timedelta(hours=5, minutes=30), "IST")
#: ``tokenValidity`` is documented as ``DD/MM/YYYY HH:MM``; the others are tolerated.
_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
#: Log a warning when a token has less than this left (the alert's threshold too).
WARN_BEFORE_S = 2 * 3600.0


def parse_token_validity(text: str | None) -> float | None:
    """Unix time of a ``tokenValidity`` (IST unless it carries an offset); None if unreadable."""
    if not text:
        return None
    raw = text.strip()
    for fmt in _FORMATS:
        try:
            parsed = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=parsed.tzinfo or IST).timestamp()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.replace(tzinfo=parsed.tzinfo or IST).timestamp()


class TokenWatch:
    """Reads ``GET /profile`` of every client on a daemon thread and sets the expiry gauge."""

    def __init__(
        self,
        clients: Mapping[str, DhanClient],
        metrics: Metrics,
        interval_s: float = 900.0,
        keeper: TokenKeeper | None = None,
    ) -> None:
        """``keeper``: renews or regenerates tokens after each read (token_renewal.py)."""
        self.clients = clients
        self.metrics = metrics
        self.interval_s = interval_s
        self.keeper = keeper
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._next_check_at = 0.0  # monotonic; 0 = now
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="token-watch", daemon=True)
        self.checks = 0  #: completed rounds (for tests and logs)

    def start(self) -> TokenWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ends the thread; waits at most 1 s (a profile call in flight must not eat into the
        engine's 10 s stop: the thread is a daemon and holds nothing)."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)

    def check_soon(self, delay_s: float = 2.0) -> None:
        """Check again after ``delay_s`` (a reload's new tokens reach the followers' clients
        through their actors' inboxes, a moment after the SIGHUP)."""
        with self._lock:
            self._next_check_at = time.monotonic() + delay_s
        self._wake.set()

    def check_once(self) -> dict[str, float | None]:
        """One round over every account: name -> expiry (Unix time) or None if unknown."""
        out: dict[str, float | None] = {}
        keeper = self.keeper
        for name, client in list(self.clients.items()):
            expiry, refused = self._check(name, client)
            if keeper is not None:
                renewed = keeper.tend(name, client, expiry, refused)
                if renewed is not None and renewed != expiry:
                    self.metrics.token_expiry.labels(name).set(renewed)
                expiry = renewed
                self.metrics.token_self_renewing.labels(name).set(
                    1 if keeper.self_renewing(name) else 0
                )
            else:
                self.metrics.token_self_renewing.labels(name).set(0)
            out[name] = expiry
        self.checks += 1
        return out

    def _check(self, name: str, client: DhanClient) -> tuple[float | None, bool]:
        """The token's expiry (None if unknown) and whether Dhan refused the token."""
        gauge = self.metrics.token_expiry.labels(name)
        try:
            profile = client.profile()
        except errors.AuthError as exc:
            gauge.set(time.time())  # not valid any more: expired as of now
            logger.error("token of %s rejected by GET /profile (%s)", name, exc.code)
            return None, True
        except errors.DhanError as exc:  # unknown now; keep the last value
            logger.info("token check of %s failed: %s", name, exc)
            return None, False
        expiry = parse_token_validity(profile.token_validity)
        if expiry is None:
            logger.warning("token of %s: unreadable tokenValidity %r", name, profile.token_validity)
            return None, False
        gauge.set(expiry)
        left_s = expiry - time.time()
        if left_s < WARN_BEFORE_S and (self.keeper is None or not self.keeper.self_renewing(name)):
            logger.warning(
                "token of %s expires in %.1f h (tokenValidity %s): rotate it, then SIGHUP",
                name,
                left_s / 3600.0,
                profile.token_validity,
            )
        return expiry, False

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                wait_s = self._next_check_at - time.monotonic()
            if wait_s > 0:
                self._wake.wait(wait_s)
                self._wake.clear()
                continue
            with self._lock:
                self._next_check_at = time.monotonic() + self.interval_s
            try:
                self.check_once()
            except Exception:  # a watch must never take the engine down
                logger.exception("token check round failed")
            if self.keeper is not None:  # wake again when the first account becomes due
                from copytrader.token_renewal import next_check_in

                wait_s = next_check_in(
                    now=time.time(), due_at=self.keeper.due_at(), interval_s=self.interval_s
                )
                with self._lock:
                    self._next_check_at = min(self._next_check_at, time.monotonic() + wait_s)
