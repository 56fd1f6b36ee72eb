"""demon's state store: runs, results history and schema snapshots (SQLite or PostgreSQL).

Import `monitor.state.store` for the API; this package file stays light so the CLI can import it cheaply.
"""
