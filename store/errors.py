"""Errors the journal raises; the hierarchy, once::

StoreError (Exception)
 +-- SchemaTooNew        the database was migrated by a newer copytrader: refuse to start
 +-- IllegalTransition   a state change the table in ``store.states`` forbids
 +-- StaleState          optimistic check failed: the intent moved on since it was read
 +-- IntentNotFound      (also a LookupError) no intent with that id
SecretInPayload (ValueError)  an audit payload carries something that looks like a secret
"""

from __future__ import annotations

from store.states import IntentState


class StoreError(Exception):
    """Base of every journal error (database driver errors pass through unchanged)."""


class SchemaTooNew(StoreError):
    """The database schema revision is unknown to this code (written by a newer version)."""

    def __init__(self, db_revision: str, code_head: str, url: str) -> None:
        self.db_revision = db_revision
        self.code_head = code_head
        super().__init__(
            f"database {url} has schema revision {db_revision!r}, which this copytrader does not "
            f"know (its newest is {code_head!r}): it was written by a newer version. Refusing to "
            "start; run the newer copytrader, or restore a backup made for this version."
        )


class IllegalTransition(StoreError):
    """``from_state -> to_state`` is not in ``store.states.TRANSITIONS``."""

    def __init__(self, intent_id: int, from_state: IntentState, to_state: IntentState) -> None:
        self.intent_id = intent_id
        self.from_state = from_state
        self.to_state = to_state
        super().__init__(f"intent {intent_id}: illegal transition {from_state} -> {to_state}")


class StaleState(StoreError):
    """The caller expected the intent in ``expected`` but it is in ``actual``."""

    def __init__(self, intent_id: int, expected: IntentState, actual: IntentState) -> None:
        self.intent_id = intent_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"intent {intent_id}: expected state {expected}, found {actual}")


class IntentNotFound(StoreError, LookupError):
    """No follower intent has this id."""

    def __init__(self, intent_id: int) -> None:
        self.intent_id = intent_id
        super().__init__(f"no intent with id {intent_id}")


class SecretInPayload(ValueError):
    """An audit payload has a key (or value) that looks like a credential; nothing was written.

    The message names the offending key path, never the value.
    """
