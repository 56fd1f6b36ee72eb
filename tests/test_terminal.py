"""On a terminal `demon check` draws a rich table; the same run piped prints plain lines."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.warehouse import execute, write_config


def run_in_terminal(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run a command with a pseudo-terminal as stdout and stderr, as a user at a shell would."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        argv, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, cwd=cwd, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done writing
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(), b"".join(chunks).decode("utf-8", "replace")


def test_terminal_output_is_a_colored_table(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    execute(url, ["CREATE TABLE t AS SELECT range AS id, now() AS loaded_at FROM range(5)"])
    block = "".join(
        f"  d{i}:\n    source: warehouse\n    table: t\n    checks:\n"
        "      - volume: {min: 10}\n      - freshness: {column: loaded_at, fail_after: 1h}\n"
        for i in range(3)
    )
    config = write_config(tmp_path, url, block)
    demon = str(Path(sys.executable).with_name("demon"))
    code, screen = run_in_terminal([demon, "check", "-c", str(config)], tmp_path)
    assert code == 1
    assert "\x1b[" in screen  # colors
    assert "━" in screen or "─" in screen  # table rules
    assert "checking" in screen  # the progress bar, while several datasets run
    assert "d0.volume" in screen and "6 checks: 3 pass, 0 warn, 3 fail, 0 error" in screen
