"""Alembic environment: the same migrations create and upgrade SpatiaLite and PostGIS."""

from alembic import context
from geoalchemy2 import alembic_helpers

from geo.db.engine import get_engine
from geo.models import Base

config = context.config


def include_object(obj, name, obj_type, reflected, compare_to):
    # SpatiaLite's own bookkeeping tables are not ours to migrate.
    if obj_type == "table" and reflected and compare_to is None:
        return False
    return alembic_helpers.include_object(obj, name, obj_type, reflected, compare_to)


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        with get_engine(config.get_main_option("sqlalchemy.url")).connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
