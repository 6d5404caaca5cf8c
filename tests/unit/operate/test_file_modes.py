"""The files the engine writes are its user's alone (0600), whatever the umask it runs under,
and a trail that cannot be written is reported naming the file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.audit import AuditTrailError, append_lines
from store import Journal


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The umask of a shell run by hand (022): files would be created 0644."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("loose_umask")
def test_a_new_journal_and_its_wal_and_shm_files_are_created_0600(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    journal = Journal.open(f"sqlite:///{db}")
    try:
        journal.append_audit("k", actor="test", account=None, payload={})
        wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
        assert wal.exists() and shm.exists()  # open while the journal is
        assert [mode_of(p) for p in (db, wal, shm)] == [0o600, 0o600, 0o600]
    finally:
        journal.close()


@pytest.mark.usefixtures("loose_umask")
def test_an_existing_journal_keeps_the_mode_its_operator_gave_it(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    Journal.open(f"sqlite:///{db}").close()
    db.chmod(0o640)  # e.g. readable by a monitoring group

    Journal.open(f"sqlite:///{db}").close()

    assert mode_of(db) == 0o640


@pytest.mark.usefixtures("loose_umask")
def test_a_new_audit_trail_is_created_0600_and_appended_to(tmp_path: Path) -> None:
    trail = tmp_path / "audit.jsonl"

    append_lines(trail, ['{"id":1}'])
    append_lines(trail, ['{"id":2}', '{"id":3}'])

    assert mode_of(trail) == 0o600
    assert trail.read_text() == '{"id":1}\n{"id":2}\n{"id":3}\n'


def test_a_trail_that_cannot_be_written_is_reported_naming_the_file(tmp_path: Path) -> None:
    trail = tmp_path / "audit.jsonl"
    trail.mkdir()  # not writable as a file, even by root

    with pytest.raises(AuditTrailError) as info:
        append_lines(trail, ['{"id":1}'])

    # a crash is reported by its repr, which for a plain OSError drops the file name
    assert f"cannot write the audit trail {trail} (engine.audit_path): Is a directory" in repr(
        info.value
    )
    assert isinstance(info.value, OSError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_trail_in_a_directory_without_write_permission_names_the_file(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    trail = locked / "audit.jsonl"

    with pytest.raises(AuditTrailError) as info:
        append_lines(trail, ['{"id":1}'])

    assert f"{trail} (engine.audit_path): Permission denied" in repr(info.value)
