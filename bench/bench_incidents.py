"""What an on-call engineer receives for the demo's injected defects: notifications, incidents, and how many
"probable root cause" claims are wrong, judged against a reading of each defect (`PLAUSIBLE`).

`--demon` runs another checkout's interpreter (an earlier commit's `.venv/bin/python`, with its checkout as
`--cwd`), so before and after are measured by the same script:

Run: .venv/bin/python -m bench.bench_incidents [--demon OTHER/.venv/bin/python --cwd OTHER]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# The upstream failures that could cause each incident, by the demo's story (monitor/app/demo): a partially
# loaded sales.orders and a short lake export explain short orders and order lines below them; a late
# payments export explains stale payments. Every other incident (duplicates, negative quantities, retyped
# or dropped columns, a dropped table, bad phone numbers) has a cause of its own: no upstream explains it.
PLAUSIBLE = {
    "orders.volume": {"raw_orders.volume"},
    "payments.freshness": {"raw_payments.freshness"},
    "fact_orders.volume.daily": {"orders.volume", "raw_orders.volume"},
}
SUMMARY = re.compile(r"Alerting: (\d+) incidents? opened, \d+ resolved; (\d+) notifications? sent")


def run(python: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "-m", "monitor", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, check=False)


def measure(python: str, cwd: Path) -> dict[str, int]:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        demo = Path(scratch) / "demo"
        done = run(python, cwd, "demo", "--dir", str(demo), "--failures-only")
        found = SUMMARY.search(done.stdout)
        if found is None:
            sys.exit(f"no alerting summary in the demo's output:\n{done.stdout}\n{done.stderr}")
        listed = run(python, cwd, "incidents", "-c", str(demo / "demon.yml"), "--format", "json")
        incidents = json.loads(listed.stdout)["incidents"]
    keys = {incident["id"]: incident["key"] for incident in incidents}
    claims = [(incident["key"], keys.get(incident["root_id"], "?")) for incident in incidents
              if incident["root_id"] is not None]
    wrong = [(key, root) for key, root in claims if root not in PLAUSIBLE.get(key, set())]
    for key, root in wrong:
        print(f"  wrong claim: {key} <- {root}")
    failing = sum(1 for line in done.stdout.splitlines() if line.startswith(("FAIL", "ERROR")))
    return {"failing checks": failing,
            "incidents": int(found.group(1)), "notifications": int(found.group(2)),
            "root-cause claims": len(claims), "wrong claims": len(wrong)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--demon", default=sys.executable, help="the interpreter demon is installed in")
    parser.add_argument("--cwd", type=Path, default=Path.cwd(), help="where to run it (its checkout)")
    args = parser.parse_args()
    figures = measure(args.demon, args.cwd)
    print(" | ".join(f"{name}: {value}" for name, value in figures.items()))


if __name__ == "__main__":
    main()
