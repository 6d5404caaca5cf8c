"""PostgreSQL advisory-lock keys of the journal (SQLite serialises writers with BEGIN IMMEDIATE).

All use the two-int form ``pg_advisory_xact_lock(namespace, key)``, held until commit:
migration (one at a time), leader order (writers of one order's intents take turns), audit
(taken last in a transaction, so audit ids are allocated in commit order).
"""

from __future__ import annotations

import hashlib

LOCK_MIGRATION = 0x4D49  # "MI"
LOCK_LEADER_ORDER = 0x4C4F  # "LO"
LOCK_AUDIT = 0x4155  # "AU"


def lock_key(text: str) -> int:
    """A stable signed 32-bit key for ``text`` (collisions only make two writers take turns)."""
    digest = hashlib.blake2b(text.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)
