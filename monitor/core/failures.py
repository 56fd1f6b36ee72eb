"""Why a check could not be evaluated: the reason of an `error`, kept as a value from the probe that failed
to the result, the state store and the metrics, so nothing downstream has to read it back out of words."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    UNREACHABLE = "unreachable"  # the source did not answer: refused, down, connection lost, credentials
    TIMEOUT = "timeout"  # longer than its query_timeout, or the server stopped answering
    MISSING = "missing"  # the table, column, prefix, bucket or object is not there
    DENIED = "denied"  # the source answered and refused: no permission on it
    STATEMENT = "statement"  # the source refused the statement: bad SQL, a value it cannot convert
    DATA = "data"  # the answer cannot be judged: NULL for a metric, a corrupt or mistyped file
    SETUP = "setup"  # the check cannot be set up: a schema that does not load, a kind not available
    STORE = "store"  # the check's history could not be read, so it cannot be judged
    INTERRUPTED = "interrupted"  # the command was stopped while it ran
    INTERNAL = "internal"  # a bug in demon


# Reasons that say the source itself cannot be used (for a source incident, and demon_source_up).
SOURCE_DOWN = frozenset({Reason.UNREACHABLE})
