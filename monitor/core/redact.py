"""Keeping secrets out of everything demon prints, logs, stores or sends.

Error messages of drivers and clients may echo a connection URL or a value that came from the
environment; every message that leaves a source passes through a `Redactor` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values ("1", "true", "prod") would mask ordinary words

# scheme://user:PASSWORD@host: the password runs to the last "@" of the URL, so an unescaped "@"
# inside it is masked too (at worst the host is masked with it).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/?#@]*:)(?P<secret>[^\s]+)@")
# libpq-style key/value connection strings: password=... or password='...'
_DSN_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'[^']*'|[^\s']+)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`postgresql://demon:pw@host/db` -> `postgresql://demon:***@host/db`; other URLs are unchanged."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", url)


class Redactor:
    """Replaces known secrets and any URL or DSN password in a text by `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        kept = {value for value in secrets if value and len(value) >= MIN_SECRET_LENGTH}
        self.secrets: frozenset[str] = frozenset(kept)
        # URL-escaped forms too: a password read from the environment often sits inside a URL; and a
        # whole URL from the environment is often shown with its password masked, which hides no host.
        variants = kept | {quote(value, safe="") for value in kept} | {mask_url(value) for value in kept}
        self._pattern = (
            re.compile("|".join(re.escape(value) for value in sorted(variants, key=len, reverse=True)))
            if variants
            else None
        )

    def extended(self, secrets: Iterable[str | None]) -> Redactor:
        """A redactor that also masks `secrets` (None and short values are ignored)."""
        return Redactor([*self.secrets, *(value for value in secrets if value)])

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        text = mask_url(text)
        return _DSN_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)


# A database's error text is data: it may quote a value it could not convert. Quoted spans that the
# statements do not hold themselves (names, literals demon sent) are such values.
# A quote opens where no letter precedes it and closes where none follows: "the dataset's files" holds none.
_QUOTED = re.compile(r"(?<!\w)(?:'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")(?!\w)")
MAX_ERROR_CHARS = 500
HIDDEN_VALUE = "…"


def error_text(message: str, statements: Iterable[str], hide_values: bool) -> str:
    """An error as results carry it: at most MAX_ERROR_CHARS, and with `hide_values` (a dataset with
    `pii_columns`) no quoted value the database took from the data."""
    if hide_values:
        sent = "\n".join(statements)
        message = _QUOTED.sub(
            lambda m: m[0] if m[0][1:-1] and m[0][1:-1] in sent else f"{m[0][0]}{HIDDEN_VALUE}{m[0][-1]}",
            message,
        )
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 1] + HIDDEN_VALUE
