"""Alembic environment: runs the versions in this folder against the URL given to `migrate.upgrade`."""

from alembic import context

from azuraforge_common.database import create_db_engine
from azuraforge_common.models import Base

# The URL travels in attributes, not in the ini options, where "%" in a password would break interpolation.
database_url: str = context.config.attributes["database_url"]

if context.is_offline_mode():
    context.configure(url=database_url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            # Batch mode lets later migrations alter SQLite tables (which SQLite cannot ALTER in place).
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
