"""Database helpers shared by the apps' hot paths (PostgreSQL)."""

from __future__ import annotations

import psycopg
from django.db import connection


class PreparedCursor(psycopg.Cursor):
    """A cursor that binds on the server and has psycopg prepare what it runs, once per
    connection (psycopg keeps the name). Django turns psycopg's automatic preparing off
    (prepare_threshold=None) for transaction poolers; portal/settings.py sets a threshold
    no query reaches instead, so that only these cursors prepare, and
    DB_PREPARED_STATEMENTS=false (a PgBouncer older than 1.21 in transaction mode) leaves
    it None, which turns these off too (psycopg ignores prepare=True then)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def prepared_cursor(*, health_check: bool = True):
    """connection.cursor() with its statements prepared (PostgreSQL only): the same
    connection and query logging. `health_check=False` skips CONN_HEALTH_CHECKS' round trip
    before the request's first query, for a caller that handles a broken connection itself."""
    if health_check:
        connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = PreparedCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)
