"""Crash-test child: forks journal writers on demand; each writes in a loop until SIGKILLed.

Run as ``python -m tests.unit.store.crash_child`` (by ``test_crash_safety``). SQLAlchemy takes
about a second to import, so this process imports once, prints ``imported``, then serves
commands on stdin (forking holds no database connection: the journal is opened after fork):

- ``spawn <url> <n>``: fork a writer, print ``pid <pid>``. The writer opens the journal,
  prints ``ready`` and loops from leader number ``n``: record a leader event with three
  follower copies, mark one copy SENDING, append an audit entry, printing (flushed, after each
  commit returned) ``event <leader order id>``, ``sending <intent id>``, ``audit <audit id>``.
- ``reap <pid>``: wait for that (killed) writer to be gone, print ``dead <pid>``.
"""

from __future__ import annotations

import os
import sys

from store import IntentState, Journal
from tests.unit.store.factories import copies, snapshot


def write_forever(url: str, n: int) -> None:
    journal = Journal.open(url)
    print("ready", flush=True)
    while True:
        leader = f"L{n}"
        journal.record_leader_snapshot(snapshot(leader, seq=n), copies(leader, 3))
        print(f"event {leader}", flush=True)
        intent = journal.intents("f1", leader_order_id=leader)[0]
        journal.transition(intent.id, IntentState.SENDING, expect_from=IntentState.PLANNED)
        print(f"sending {intent.id}", flush=True)
        audit_id = journal.append_audit("crash_test", actor="child", account="f1", payload={"n": n})
        print(f"audit {audit_id}", flush=True)
        n += 1


def main() -> None:
    print("imported", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "spawn":
            pid = os.fork()
            if pid == 0:
                try:
                    write_forever(args[0], int(args[1]))
                finally:
                    os._exit(1)  # never return into the command loop
            print(f"pid {pid}", flush=True)
        elif command == "reap":
            os.waitpid(int(args[0]), 0)
            print(f"dead {args[0]}", flush=True)


if __name__ == "__main__":
    main()
