"""A throwaway PostgreSQL server on 127.0.0.1 for the test suite.

Debian keeps `initdb` and `pg_ctl` in a versioned folder off PATH, and the server refuses to run
as root, so as root both run as the `postgres` user over a data directory it owns.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def closed_port() -> Iterator[int]:
    """A 127.0.0.1 port that nothing listens on while the block runs: bound here and never listening, so a
    connection to it is refused and no other process (a second test run beside this one) can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _bindir() -> Path:
    candidates = sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")), reverse=True)
    found = shutil.which("pg_ctl")
    if found:
        candidates.insert(0, found)
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql (or .ci/run)")
    return Path(candidates[0]).resolve().parent


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class PostgresServer:
    """A running server; `url(db)` gives a SQLAlchemy URL with a password to mask."""

    port: int
    datadir: Path
    bindir: Path
    user: str = "demon"
    password: str = "s3cret-pw"

    def url(self, database: str = "demon") -> str:
        return f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        argv = [str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql]
        return subprocess.run(_as_server_user(argv), check=True, capture_output=True, text=True).stdout

    def pg_ctl(self, *args: str) -> None:
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60", *args]
        subprocess.run(_as_server_user(argv), check=True, capture_output=True, text=True)

    @property
    def log(self) -> Path:
        """The server's log (with `log_statement = all` for a role, every statement of that role)."""
        return self.datadir.parent / "server.log"

    def logged_since(self, offset: int) -> list[str]:
        """The statements the server logged past `offset` bytes of its log (`log.stat().st_size` earlier)."""
        with self.log.open("rb") as lines:
            lines.seek(offset)
            return logged_statements(lines.read().decode())

    def start(self) -> None:
        log = self.log
        options = f"-p {self.port} -k {self.datadir.parent} -c listen_addresses=127.0.0.1"
        self.pg_ctl("-l", str(log), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "stop")


def logged_statements(text: str) -> list[str]:
    """The statements of a server log (`LOG:  statement: BEGIN`, `LOG:  execute <unnamed>: SELECT ...`), a
    statement's later lines indented with a tab."""
    statements: list[str] = []
    marks = ("LOG:  statement: ", "LOG:  execute <unnamed>: ")
    for line in text.splitlines():
        mark = next((mark for mark in marks if mark in line), None)
        if mark is not None:
            statements.append(line.split(mark, 1)[1])
        elif line.startswith("\t") and statements:
            statements[-1] += "\n" + line[1:]
    return statements


def start_postgres() -> PostgresServer:
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="demon-pg-"))
    datadir = root / "data"
    datadir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(datadir, "postgres")
    subprocess.run(_as_server_user([str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres",
                                    "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
                   check=True, capture_output=True, text=True)
    server = PostgresServer(port=free_port(), datadir=datadir, bindir=bindir)
    # trust locally for the superuser, passwords (scram) for demon's own role.
    hba = datadir / "pg_hba.conf"
    hba.write_text("host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
                   "local all all trust\n")
    server.start()
    deadline = time.monotonic() + 120
    while True:
        try:
            server.psql("select 1")
            break
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    server.psql(f"CREATE ROLE {server.user} LOGIN SUPERUSER PASSWORD '{server.password}'")
    server.psql(f"CREATE DATABASE demon OWNER {server.user}")
    return server


def destroy(server: PostgresServer) -> None:
    try:
        server.stop("immediate")
    finally:
        shutil.rmtree(server.datadir.parent, ignore_errors=True)
