"""A throwaway PostgreSQL server for the tests that need one (the `pg_url` fixture).

`PROFWORK_PG_URL`, when set, names a server to use instead (a SQLAlchemy URL whose database the
tests may drop and re-create tables in). Otherwise the first test that asks starts one from the
PostgreSQL binaries on this machine (on PATH, or Debian's /usr/lib/postgresql/<version>/bin): a
cluster in a temporary directory on a free port on 127.0.0.1, with trust authentication. `initdb`
refuses to run as root, so as root the directory belongs to `postgres` and the commands run through
`runuser -u postgres`. The server is stopped and its directory removed when the session ends.

`pg_ctl` daemonises the postmaster (its parent, `pg_ctl`, exits once the server is up), so the
server is never a child of the test process and the no-leak guard does not see it.
Without the binaries or the `postgres` user the PostgreSQL tests skip, and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require

DATABASE = "profwork"


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return str(versions[-1]) if versions else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(_as_postgres(argv), capture_output=True, text=True, timeout=120)
    output = (done.stderr.strip() or done.stdout.strip()).replace("\n", " ")
    require(done.returncode == 0, f"{what} failed ({done.returncode}): {output}")


def _can_run_as_postgres() -> bool:
    if os.geteuid() != 0:
        return True
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return shutil.which("runuser") is not None


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL of an empty-or-reusable PostgreSQL database."""
    given = os.environ.get("PROFWORK_PG_URL")
    if given:
        yield given
        return
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    require(
        initdb is not None and pg_ctl is not None,
        "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql",
    )
    require(_can_run_as_postgres(), "no `postgres` user (or runuser) to run initdb as")
    assert initdb is not None and pg_ctl is not None
    home = Path(tempfile.mkdtemp(prefix="profwork-pg-"))
    data = home / "data"
    if os.geteuid() == 0:
        shutil.chown(home, user="postgres", group="postgres")
    port = _free_port()
    started = False
    try:
        _run([initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"], "initdb")
        options = f"-k {home} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run(
            [pg_ctl, "-D", str(data), "-l", str(home / "server.log"), "-o", options, "-w", "start"],
            "pg_ctl start",
        )
        started = True
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}"
    finally:
        if started:
            _run([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], "pg_ctl stop")
        shutil.rmtree(home, ignore_errors=True)
