"""The one exception the state store raises, so callers can catch store failures without SQLAlchemy."""


class StateStoreError(Exception):
    """The state store could not be opened, migrated, read or written; the message never holds a password."""
