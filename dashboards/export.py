"""`demon dashboards export DIR`: the bundled Grafana dashboards, provisioning files and Prometheus rules.

They ship as data files inside this package; the export copies the tree as it is, except that the Grafana
dashboard provider is pointed at the exported dashboards' absolute path, so it works where it was written.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

BUNDLED = (".json", ".yml")
PROVIDER = "provisioning/dashboards/demon.yml"
PROVIDER_PATH = "/var/lib/grafana/dashboards/demon"  # the path in the bundled provider file
DASHBOARDS = "grafana"


def bundled() -> dict[str, str]:
    """Relative path -> text of every bundled file."""
    return dict(sorted(_walk(files("dashboards"), "")))


def _walk(folder: Traversable, prefix: str) -> Iterator[tuple[str, str]]:
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(BUNDLED):
            yield f"{prefix}{entry.name}", entry.read_text(encoding="utf-8")


def export(directory: Path) -> list[Path]:
    """Write the bundle under `directory` (replacing files of the same names); returns what was written."""
    written = []
    for name, text in bundled().items():
        if name == PROVIDER:
            text = text.replace(PROVIDER_PATH, str((directory / DASHBOARDS).resolve()))
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
