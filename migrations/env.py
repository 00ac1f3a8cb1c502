"""Alembic environment: the app's engine and metadata; SQLite runs batch mode with FKs off."""

from __future__ import annotations

import logging

from alembic import context
from flask import current_app

import referral_hub.models  # noqa: F401 - every model registered on the metadata
from referral_hub.core.db import UTCDateTime

log = logging.getLogger("alembic.env")
config = context.config
migrate_ext = current_app.extensions["migrate"]
engine = migrate_ext.db.engine
config.set_main_option(
    "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
)
target_metadata = migrate_ext.db.metadata


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Our UTC type is plain timestamptz to the database: render it so, no app import."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """The key store's table may share the database; it is not this metadata's to manage."""
    return not (type_ == "table" and name == "client_key")


def _skip_empty_autogenerate(context_, revision, directives):  # type: ignore[no-untyped-def]
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    arguments = dict(migrate_ext.configure_args)
    arguments.setdefault("process_revision_directives", _skip_empty_autogenerate)
    arguments.setdefault("render_item", _render_item)
    arguments.setdefault("include_object", _ours)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # batch mode copies tables; enforced foreign keys would cascade or refuse that.
            # The pragma only takes effect outside a transaction, hence the raw connection.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        try:
            context.configure(connection=connection, target_metadata=target_metadata, **arguments)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys = ON")


if context.is_offline_mode():
    run_offline()
else:
    run_online()
