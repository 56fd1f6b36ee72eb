"""How much of demon each entry point loads: project modules imported (and all modules) by importing the
alerting engine, by `demon --help` and by `demon check` on a small DuckDB dataset, and the start-up time of
`demon --help` and `demon check`, beside the bare interpreter's (ratios hold on a noisy machine).

Run: .venv/bin/python -m bench.bench_imports [--repeat 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

OWN = ("monitor", "checks", "alerting", "dashboards")
# Runs in a fresh interpreter: imports or runs the entry point, then prints what sys.modules holds.
PROBE = textwrap.dedent("""
    import json, sys
    {action}
    own = sorted(m for m in sys.modules if m.split(".")[0] in {own!r})
    print(json.dumps({{"own": own, "all": len(sys.modules)}}), file=sys.__stderr__)
""")
ACTIONS = {
    "import alerting.engine": "import alerting.engine",
    "demon --help": ("from monitor.app.cli import main\nsys.argv = ['demon', '--help']\n"
                     "try:\n    main()\nexcept SystemExit:\n    pass"),
    "demon check": ("from monitor.app.cli import main\n"
                    "sys.argv = ['demon', 'check', '-c', {config!r}, '-f', 'json']\n"
                    "try:\n    main()\nexcept SystemExit:\n    pass"),
}


def loaded(action: str, config: Path) -> dict[str, object]:
    code = PROBE.format(action=action.format(config=str(config)), own=OWN)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stderr.strip().splitlines()[-1])  # type: ignore[no-any-return]


def wall(argv: list[str], repeat: int) -> float:
    subprocess.run(argv, capture_output=True, check=False)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def small_config(directory: Path) -> Path:
    import duckdb

    with duckdb.connect(str(directory / "w.duckdb")) as conn:
        conn.execute("CREATE TABLE t AS SELECT range AS id, now() AS at FROM range(100)")
    config = directory / "demon.yml"
    config.write_text("version: 1\nsources:\n  w: {kind: sql, url: 'duckdb:///w.duckdb'}\ndatasets:\n"
                      "  t:\n    source: w\n    table: t\n    checks:\n      - volume: {min: 1}\n"
                      "      - freshness: {column: at, fail_after: 1h}\n      - schema: {}\n")
    return config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--list", action="store_true", help="also list the project modules each loads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = small_config(Path(tmp))
        for name, action in ACTIONS.items():
            found = loaded(action, config)
            own = found["own"]
            assert isinstance(own, list)
            print(f"{name}: {len(own)} project modules, {found['all']} modules in all")
            if args.list:
                print("   ", " ".join(own))
        demon = str(Path(sys.executable).with_name("demon"))
        bare = wall([sys.executable, "-c", "pass"], args.repeat)
        helped = wall([demon, "--help"], args.repeat)
        checked = wall([demon, "check", "-c", str(config), "-f", "json"], args.repeat)
    print(f"python -c pass {bare * 1000:.0f} ms; demon --help {helped * 1000:.0f} ms ({helped / bare:.1f}x); "
          f"demon check (3 checks, DuckDB) {checked * 1000:.0f} ms ({checked / bare:.1f}x) (medians of "
          f"{args.repeat})")


if __name__ == "__main__":
    main()
