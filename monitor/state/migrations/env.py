"""Alembic environment for the state store.

demon runs migrations itself (`StateStore.open`), inside a transaction it owns, on the connection it passes in
`config.attributes["connection"]`; there is no alembic.ini and no offline mode.
"""

from alembic import context
from sqlalchemy.engine import Connection


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("the state store migrates itself: use monitor.state.store.StateStore.open")
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
