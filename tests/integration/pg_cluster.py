"""A PostgreSQL cluster a test owns, so it can stop and start the server under a running engine.

Built the way ``.ci/postgres.sh`` builds the suite's shared one (same binaries, found through
``PG_BIN`` or ``/usr/lib/postgresql/*/bin``; run as ``postgres`` or ``nobody`` when we are root,
since PostgreSQL refuses root), but in the test's own directory on its own port: stopping it
touches no other test. Without PostgreSQL binaries a test skips, except under ``CI=true``,
where it fails (CI installs PostgreSQL through ``.ci/postgres.sh``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _pg_bin() -> Path | None:
    candidates = [os.environ.get("PG_BIN", "")]
    if found := shutil.which("pg_ctl"):
        candidates.append(str(Path(found).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """initdb + pg_ctl in ``root``; :meth:`stop` and :meth:`start` as often as a test likes."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin = bin_dir
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self.owner: str | None = None
        if os.geteuid() == 0:
            names = {p.pw_name for p in pwd.getpwall()}
            self.owner = "postgres" if "postgres" in names else "nobody"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://copytrader@127.0.0.1:{self.port}/copytrader_test"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.owner is not None:
            command = ["runuser", "-u", self.owner, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        if self.owner is not None:
            os.chown(self.root, pwd.getpwnam(self.owner).pw_uid, -1)
        self._run("initdb", "-D", str(self.data), "-U", "copytrader", "--auth=trust", "-E", "UTF8",
                  "--no-locale")  # fmt: skip
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "copytrader",
                  "copytrader_test")  # fmt: skip

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root}"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-t", "60", "-o", options, "start")  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown: every connection is dropped, as in a database restart."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@contextlib.contextmanager
def own_cluster() -> Iterator[PgCluster]:
    """A new cluster in a new directory under the system's temporary directory (pytest's
    ``tmp_path`` sits in a root-only directory that the ``postgres`` user cannot enter)."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but no PostgreSQL binaries (.ci/postgres.sh installs them)")
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl): install PostgreSQL to run this")
    tmp_root = Path(tempfile.mkdtemp(prefix="copytrader-test-pg-"))
    cluster = PgCluster(bin_dir, tmp_root)
    cluster.create()
    try:
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop()
        shutil.rmtree(tmp_root, ignore_errors=True)
