"""`${VAR}`, `${VAR:-default}` and `$$` in scalar values, replaced from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_TOKEN = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|\$\{")


@dataclass
class Interpolated:
    """The substituted text, the environment values it took in (secrets) and what went wrong."""

    text: str = ""
    secrets: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def interpolate(text: str, environ: Mapping[str, str]) -> Interpolated:
    """Substitute like a shell: `${VAR:-default}` takes the default when VAR is unset or empty."""
    result = Interpolated()

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if match.group() == "$$":
            return "$"
        if name is None:
            result.problems.append("expected ${VAR} or ${VAR:-default} after '${' (write $$ for a literal $)")
            return match.group()
        value = environ.get(name)
        if value:
            result.secrets.append(value)
            return value
        if default is not None:
            return default
        if value is None:
            hint = f"write ${{{name}:-default}} for a default"
            result.problems.append(f"environment variable {name} is not set ({hint})")
        return ""

    result.text = _TOKEN.sub(substitute, text)
    return result
