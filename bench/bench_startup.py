"""What a new user waits for: `demon --help`, `demon --version` and `demon demo`, beside the bare
interpreter's start on the same machine in the same run (ratios hold on a noisy machine; seconds do not).

Run: .venv/bin/python -m bench.bench_startup [--repeat 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def wall(argv: list[str], repeat: int, cwd: Path | None = None) -> float:
    """Median wall time of `repeat` runs, after one warm-up (the page cache, not the code, is what warms)."""
    subprocess.run(argv, check=True, capture_output=True, cwd=cwd)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=cwd)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores, {model}; Python {platform.python_version()}; load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    demon = str(Path(sys.executable).with_name("demon"))
    print(f"machine: {machine()}")
    bare = wall([sys.executable, "-c", "pass"], args.repeat)
    print(f"python -c pass: {bare * 1000:.0f} ms (median of {args.repeat})")
    for command in (["--help"], ["--version"]):
        took = wall([demon, *command], args.repeat)
        print(f"demon {command[0]}: {took * 1000:.0f} ms = {took / bare:.1f}x the bare interpreter")
    with tempfile.TemporaryDirectory() as tmp:
        took = wall([demon, "demo", "--dir", tmp], max(1, args.repeat // 3))
        print(f"demon demo (build the warehouse and lake, run 63 checks twice, open incidents): {took:.2f} s"
              f" (median of {max(1, args.repeat // 3)})")


if __name__ == "__main__":
    main()
