"""The deployment lookup in one SQL statement, for promotions/middleware.py: what serving
polls, `GET /api/v1/usecases/{slug}/deployment` with a knox token, answered without URL
resolution, DRF or the ORM, and exactly as the API view answers it.

Each function answers None where it cannot be sure of giving the view's answer; the request
then goes on to Django unchanged, and the view answers it (401, 403, 404, 406, 429…). The
statement reads the token's candidates (knox's `token_key`, the first 15 characters), their
user, the user's Manager and Admin groups and role on the use case, and the use case's
deployed versions. Knox's own checks are kept: the digest compared in constant time, the
user active; where knox would write (an expired token, or another expired token of the user,
both deleted as it authenticates) the fast path steps aside and lets knox do it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from hmac import compare_digest
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings

from portal.db import prepared_cursor
from promotions.deployment_body import CANARY, PRODUCTION, SHADOW, deployment_of
from registry.models import ModelVersion
from usecases.models import ADMIN_GROUP, MANAGER_GROUP, UseCase, UseCaseMember
from usecases.permissions import MANAGER_ACTIONS, ROLE_ACTIONS, Action

logger = logging.getLogger(__name__)

# The view's route (promotions/api/urls.py: NESTED + "/deployment" under /api/v1/), whole.
PATH = re.compile(r"/api/v1/usecases/(?P<slug>[-a-zA-Z0-9_]+)/deployment")


def slug_of(path_info: str) -> str | None:
    """The use case's slug if `path_info` is exactly the deployment's path."""
    found = PATH.fullmatch(path_info)
    return found["slug"] if found else None


def token_of(authorization: str) -> str | None:
    """The token of an `Authorization: Token <token>` header, split as knox splits it (on
    whitespace, the prefix in any case); None for anything else, knox's errors included."""
    if not (authorization.isascii() and authorization.isprintable()):
        return None  # knox splits bytes, on ASCII whitespace: only spaces are left here
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != knox_settings.AUTH_HEADER_PREFIX.lower():
        return None
    return parts[1]


@functools.cache
def _statement(vendor: str) -> str:
    """The one SELECT (per database vendor, for quoting): one row per token candidate and
    deployed version; names from the models' metadata, every value a parameter."""
    q = connection.ops.quote_name
    user, token = get_user_model(), get_token_model()
    groups = user._meta.get_field("groups").remote_field.through
    table = {
        "token": q(token._meta.db_table),
        "user": q(user._meta.db_table),
        "user_groups": q(groups._meta.db_table),
        "group": q(Group._meta.db_table),
        "use_case": q(UseCase._meta.db_table),
        "member": q(UseCaseMember._meta.db_table),
        "version": q(ModelVersion._meta.db_table),
    }
    in_group = (
        "EXISTS (SELECT 1 FROM {user_groups} ug INNER JOIN {group} g ON g.id = ug.group_id "
        "WHERE ug.user_id = u.id AND g.name = %s)"
    )
    sql = f"""
        SELECT t.digest,
               t.expiry IS NOT NULL AND t.expiry < %s,
               EXISTS (SELECT 1 FROM {{token}} o WHERE o.user_id = t.user_id
                       AND o.digest <> t.digest AND o.expiry < %s),
               u.id, u.is_active, u.is_superuser, {in_group}, {in_group},
               c.id,
               (SELECT m.role FROM {{member}} m WHERE m.use_case_id = c.id AND m.user_id = u.id
                ORDER BY m.id LIMIT 1),
               v.version, v.stage, v.traffic_percent, v.artifact_uri, v.mlflow_run_id,
               v.git_commit, v.stage_changed_at
        FROM {{token}} t
        INNER JOIN {{user}} u ON u.id = t.user_id
        LEFT OUTER JOIN {{use_case}} c ON c.slug = %s
        LEFT OUTER JOIN {{version}} v ON v.use_case_id = c.id AND v.stage IN (%s, %s, %s)
        WHERE t.token_key = %s
        ORDER BY t.digest, v.stage_changed_at, v.id
    """
    return " ".join(sql.format(**table).split())


def lookup(token: str, slug: str) -> list[tuple] | None:
    """The statement's rows for `token` and `slug` (none if no token has its key); None if
    the database failed to answer."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = [now, now, ADMIN_GROUP, MANAGER_GROUP, slug, PRODUCTION, CANARY, SHADOW]
    params.append(token[: CONSTANTS.TOKEN_KEY_LENGTH])
    try:
        with _cursor() as cursor:
            cursor.execute(_statement(connection.vendor), params)
            return cursor.fetchall()
    except DatabaseError:
        # A connection that broke while idle (no health check here: _cursor()): the view
        # answers, its first query checks the connection and opens a new one.
        logger.info("deployment fast path: the query failed; the view answers", exc_info=True)
        return None


def _cursor():
    """On PostgreSQL, a cursor that prepares the statement: planning its joins takes 0.47 ms
    here, four times its execution (docs/benchmarks.md). The same connection and query
    logging as connection.cursor(), without its health check (CONN_HEALTH_CHECKS: a round
    trip before the request's first query): if the connection broke, the statement fails
    and lookup() leaves the request to the view, which checks and reconnects."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    return prepared_cursor(health_check=False)


def may_view(*, is_superuser: bool, is_admin: bool, is_manager: bool, role: str | None) -> bool:
    """`can(user, Action.VIEW, use_case)` for an active user, from the facts the statement
    read, with usecases.permissions' own tables (visible_to() agrees for VIEW)."""
    if is_superuser or is_admin:
        return True
    if is_manager and Action.VIEW in MANAGER_ACTIONS:
        return True
    return role is not None and Action.VIEW in ROLE_ACTIONS.get(role, ())


def _aware(value):
    """A DateTimeField read by a raw cursor, as the ORM gives it (SQLite answers a naive
    datetime in UTC; the ORM's converter makes it aware)."""
    convert = getattr(connection.ops, "convert_datetimefield_value", None)
    return value if value is None or convert is None else convert(value, None, connection)


class Answer(NamedTuple):
    user_id: int  # the token's user, whose requests DRF's throttle counts
    body: dict


def answer_for(token: str, slug: str, rows: Sequence[tuple] | None) -> Answer | None:
    """The deployment of the use case `slug` if knox accepts `token` without writing
    anything and its user may view that use case; else None."""
    if not rows or knox_settings.AUTO_REFRESH:  # no such token; or knox would renew it
        return None
    if any(row[1] or row[2] for row in rows):
        return None  # knox deletes expired tokens as it authenticates: let it
    digest = hash_token(token)
    mine = [row for row in rows if compare_digest(digest, row[0])]
    if not mine:
        return None
    user_id, is_active, is_superuser, is_admin, is_manager, use_case_id, role = mine[0][3:10]
    if not is_active or use_case_id is None:
        return None
    facts = {"is_superuser": bool(is_superuser), "is_admin": bool(is_admin)}
    if not may_view(**facts, is_manager=bool(is_manager), role=role):
        return None
    versions = [(*row[10:16], _aware(row[16])) for row in mine if row[10] is not None]
    return Answer(user_id, deployment_of(slug, versions))
