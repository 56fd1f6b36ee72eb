"""YAML text that reads back as what was meant, whatever the names hold (`#`, `: `, quotes, newlines, `${`).

A string is written plain only when YAML reads it back as the same text; else double-quoted with YAML's
escapes, every character that is not plainly printable (controls, line and paragraph separators, invisible
formatting) escaped, so a name can neither end its line, start a comment, nor hide. Comments get the same
escapes without quotes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from monitor.app.init.targets import Target

# Plain scalars left unquoted (`sql`, `30s`, `sales.orders`, `demo/lake`) when YAML reads them back as the
# same text: no indicator, no `$`, nothing a flow mapping would split on.
_PLAIN = re.compile(r"[\w./][\w./+-]*")
_QUOTES = {'"': '\\"', "\\": "\\\\"}
_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def quoted(template: str) -> str:
    """A template (`$$`, `${VAR}` as the loader reads them) as a double-quoted YAML scalar."""
    return '"' + "".join(_QUOTES.get(char) or _visible(char) for char in template) + '"'


def comment(text: str) -> str:
    """Text for a comment: what is not plainly printable escaped, so that it stays on its line."""
    return "".join(_visible(char) for char in text)


def _visible(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    if char == " " or char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def scalar(value: Any) -> str:
    """A setting's value: strings (templates) quoted, numbers, booleans and null as YAML writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value is None:
        return "null"
    text = str(value)
    return text if _PLAIN.fullmatch(text) and yaml.safe_load(text) == text else quoted(text)


def sources_block(targets: Iterable[Target]) -> list[str]:
    """A `sources:` section, each source's settings as the targets hold them."""
    return ["sources:", *(line for target in targets for line in source_lines(target))]


def source_lines(target: Target) -> list[str]:
    return [f"  {target.name}:", *(f"    {key}: {scalar(value)}" for key, value in target.settings.items())]
