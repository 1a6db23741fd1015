"""SQL storage with SQLAlchemy 2 (SQLite, PostgreSQL): `SQLStore` and its reader,
row mapping, models, engines, leases, the operator control table and the
Alembic migrations that create and upgrade all of it."""
