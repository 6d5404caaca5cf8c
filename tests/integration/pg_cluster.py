"""Throw-away PostgreSQL clusters for the tests: the suite's shared one and a test's own.

Built the way ``.ci/postgres.sh`` builds one (same binaries, found through ``PG_BIN``, ``pg_ctl``
on the PATH or ``/usr/lib/postgresql/*/bin``; run as ``postgres`` or ``nobody`` when we are
root, since PostgreSQL refuses root), in a new temporary directory on a free loopback port,
stopped and deleted at the end.

* :func:`suite_server`: the server of the session fixture ``pg_server_url`` (tests/conftest.py)
  that the store's PostgreSQL tests share: ``COPYTRADER_TEST_PG_URL`` when set (CI starts its
  own with ``.ci/postgres.sh``), else a cluster started for the session.
* :func:`own_cluster`: a cluster one test owns, so it can stop and start the server under a
  running engine without touching any other test.

Without PostgreSQL binaries (and no URL) a test skips with the reason, except under
``CI=true``, where it fails (CI installs PostgreSQL through ``.ci/postgres.sh``).
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
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NoReturn

import pytest

PG_ENV = "COPYTRADER_TEST_PG_URL"


def find_pg_bin() -> Path | None:
    """The directory holding PostgreSQL's ``initdb`` and ``pg_ctl``, or None."""
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


def _no_binaries(environ: Mapping[str, str]) -> NoReturn:
    """Skip the test (fail it under ``CI=true``): no PostgreSQL to run it on."""
    if environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"CI=true but no PostgreSQL binaries and {PG_ENV} unset "
            "(.ci/run starts a server with .ci/postgres.sh)",
            pytrace=False,
        )
    pytest.skip(
        f"no PostgreSQL server binaries (initdb, pg_ctl) on this machine and {PG_ENV} unset: "
        "install PostgreSQL (the suite then starts a throw-away server itself) or point "
        f"{PG_ENV} at a server to run this"
    )


@contextlib.contextmanager
def _cluster(bin_dir: Path) -> Iterator[PgCluster]:
    """A new cluster in a new directory under the system's temporary directory (pytest's
    ``tmp_path`` sits in a root-only directory that the ``postgres`` user cannot enter)."""
    tmp_root = Path(tempfile.mkdtemp(prefix="copytrader-test-pg-"))
    try:
        cluster = PgCluster(bin_dir, tmp_root)
        cluster.create()
        try:
            yield cluster
        finally:
            with contextlib.suppress(Exception):
                cluster.stop()
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)


@contextlib.contextmanager
def own_cluster() -> Iterator[PgCluster]:
    """A cluster for one test, which may stop and start it."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        _no_binaries(os.environ)
    with _cluster(bin_dir) as cluster:
        yield cluster


@contextlib.contextmanager
def suite_server(
    environ: Mapping[str, str] = os.environ,
    find_bin: Callable[[], Path | None] = find_pg_bin,
) -> Iterator[str]:
    """The URL of the PostgreSQL server the suite's store tests share.

    ``COPYTRADER_TEST_PG_URL`` when set (nothing is started); else a throw-away cluster,
    started now and stopped and deleted when the block ends; else (no binaries) a skip with
    the reason, or a failure under ``CI=true``.
    """
    url = environ.get(PG_ENV, "")
    if url:
        yield url
        return
    bin_dir = find_bin()
    if bin_dir is None:
        _no_binaries(environ)
    with _cluster(bin_dir) as cluster:
        yield cluster.url
