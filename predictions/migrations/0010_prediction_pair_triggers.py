"""Keep PredictionPair in step with reviews_prediction with triggers, and fill it from the
rows already logged (issue 12). Triggers and backfill run in one transaction: creating the
triggers locks the log against writes until the migration commits.

A prediction's pairs are with every other version's prediction of the same request (same
use case and request id), both ways round. PostgreSQL: per INSERT or COPY statement, from
its transition table, after a transaction-scoped advisory lock on each of its use cases
(see PredictionPair); per DELETE statement; per row for an UPDATE of a column a pair
copies; TRUNCATE empties the pairs. SQLite: the same per row (SQLite has one writer at a
time). The backfill is one INSERT … SELECT over a join of the log with itself (nothing on an
empty log), sorted as the pool index so that its pages fill in order.
"""

from django.db import migrations

PAIR = "predictions_predictionpair"
COLUMNS = (
    "model_version_id, other_version_id, prediction_id, other_prediction_id, random_key, "
    "predicted_at, score_gap, value_gap, differ"
)
WATCHED = ("model_version_id", "use_case_id", "request_id", "score", "prediction")
WATCHED += ("random_key", "predicted_at")


def values(a: str, b: str, vendor: str) -> str:
    """The pair (a, b)'s columns, in COLUMNS order, from rows aliased a and b."""
    if vendor == "postgresql":
        value = "(({0}.prediction #>> '{{}}')::double precision)"
        number = "jsonb_typeof({0}.prediction) = 'number'"
        differ = f"{a}.prediction IS DISTINCT FROM {b}.prediction"
    else:
        value = "json_extract({0}.prediction, '$')"
        number = "json_type({0}.prediction) IN ('integer', 'real')"
        differ = f"json_extract({a}.prediction, '$') IS NOT json_extract({b}.prediction, '$')"
    value_gap = (
        f"CASE WHEN {number.format(a)} AND {number.format(b)} "
        f"THEN abs({value.format(a)} - {value.format(b)}) END"
    )
    return (
        f"{a}.model_version_id, {b}.model_version_id, {a}.id, {b}.id, {a}.random_key, "
        f"{a}.predicted_at, abs({a}.score - {b}.score), {value_gap}, {differ}"
    )


def same_request(new: str, other: str) -> str:
    return (
        f"{other}.use_case_id = {new}.use_case_id AND {other}.request_id = {new}.request_id "
        f"AND {other}.model_version_id <> {new}.model_version_id"
    )


def row_inserts(vendor: str) -> str:
    """The pairs of the row NEW, both ways round (a trigger body's statements)."""
    conflict = " ON CONFLICT DO NOTHING" if vendor == "postgresql" else ""
    where = f"FROM reviews_prediction o WHERE {same_request('NEW', 'o')}"
    return (
        f"INSERT INTO {PAIR} ({COLUMNS}) SELECT {values('NEW', 'o', vendor)} {where}{conflict};\n"
        f"INSERT INTO {PAIR} ({COLUMNS}) SELECT {values('o', 'NEW', vendor)} {where}{conflict};\n"
    )


ROW_DELETES = f"""
DELETE FROM {PAIR} WHERE other_prediction_id = OLD.id
    AND prediction_id IN (SELECT other_prediction_id FROM {PAIR} WHERE prediction_id = OLD.id);
DELETE FROM {PAIR} WHERE prediction_id = OLD.id;
"""

POSTGRESQL = f"""
CREATE FUNCTION predictions_pair_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A concurrent batch of the same use case waits here until this one commits, then
    -- sees its rows (each statement below takes a new snapshot: READ COMMITTED).
    PERFORM pg_advisory_xact_lock(hashtext('predictions_pair'), u.use_case_id::integer)
    FROM (SELECT DISTINCT use_case_id FROM added ORDER BY 1) AS u;
    -- Each new row probes the (use_case, request_id) index for its twins (OFFSET 0 keeps
    -- the probe per row: a join would read the whole log). A reverse pair has the same
    -- gaps, and the twin's random key and time; a twin in this statement too made it as
    -- its own forward pair.
    WITH forward AS (
        INSERT INTO {PAIR} ({COLUMNS})
        SELECT {values("n", "o", "postgresql")}
        FROM added n CROSS JOIN LATERAL (
            SELECT p.id, p.model_version_id, p.random_key, p.predicted_at, p.score, p.prediction
            FROM reviews_prediction p WHERE {same_request("n", "p")} OFFSET 0
        ) AS o
        ON CONFLICT DO NOTHING
        RETURNING *
    )
    INSERT INTO {PAIR} ({COLUMNS})
    SELECT f.other_version_id, f.model_version_id, f.other_prediction_id, f.prediction_id,
           o.random_key, o.predicted_at, f.score_gap, f.value_gap, f.differ
    FROM forward f CROSS JOIN LATERAL (
        SELECT p.random_key, p.predicted_at
        FROM reviews_prediction p WHERE p.id = f.other_prediction_id OFFSET 0
    ) AS o
    WHERE NOT EXISTS (SELECT 1 FROM added x WHERE x.id = f.other_prediction_id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION predictions_pair_take() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH forward AS (
        DELETE FROM {PAIR} p USING removed r WHERE p.prediction_id = r.id
        RETURNING p.prediction_id, p.other_prediction_id
    )
    DELETE FROM {PAIR} p USING forward f
    WHERE p.prediction_id = f.other_prediction_id AND p.other_prediction_id = f.prediction_id;
    RETURN NULL;
END $$;

CREATE FUNCTION predictions_pair_redo() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('predictions_pair'), NEW.use_case_id::integer);
    {ROW_DELETES}
    {row_inserts("postgresql")}
    RETURN NULL;
END $$;

CREATE FUNCTION predictions_pair_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {PAIR};
    RETURN NULL;
END $$;

CREATE TRIGGER predictions_pair_add AFTER INSERT ON reviews_prediction
REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION predictions_pair_add();

CREATE TRIGGER predictions_pair_take AFTER DELETE ON reviews_prediction
REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION predictions_pair_take();

CREATE TRIGGER predictions_pair_redo AFTER UPDATE OF {", ".join(WATCHED)} ON reviews_prediction
FOR EACH ROW WHEN ({" OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in WATCHED)})
EXECUTE FUNCTION predictions_pair_redo();

CREATE TRIGGER predictions_pair_clear AFTER TRUNCATE ON reviews_prediction
FOR EACH STATEMENT EXECUTE FUNCTION predictions_pair_clear();

SET LOCAL work_mem = '1GB';
INSERT INTO {PAIR} ({COLUMNS})
SELECT {values("a", "b", "postgresql")}
FROM reviews_prediction a JOIN reviews_prediction b ON {same_request("a", "b")}
ORDER BY a.model_version_id, b.model_version_id, a.random_key;
ANALYZE {PAIR};
"""

POSTGRESQL_REVERSE = f"""
DROP TRIGGER IF EXISTS predictions_pair_add ON reviews_prediction;
DROP TRIGGER IF EXISTS predictions_pair_take ON reviews_prediction;
DROP TRIGGER IF EXISTS predictions_pair_redo ON reviews_prediction;
DROP TRIGGER IF EXISTS predictions_pair_clear ON reviews_prediction;
DROP FUNCTION IF EXISTS predictions_pair_add();
DROP FUNCTION IF EXISTS predictions_pair_take();
DROP FUNCTION IF EXISTS predictions_pair_redo();
DROP FUNCTION IF EXISTS predictions_pair_clear();
DELETE FROM {PAIR};
"""

SQLITE = [
    f"""CREATE TRIGGER predictions_pair_add AFTER INSERT ON reviews_prediction
    BEGIN {row_inserts("sqlite")} END""",
    f"""CREATE TRIGGER predictions_pair_take AFTER DELETE ON reviews_prediction
    BEGIN {ROW_DELETES} END""",
    f"""CREATE TRIGGER predictions_pair_redo AFTER UPDATE OF {", ".join(WATCHED)}
    ON reviews_prediction
    WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in WATCHED)}
    BEGIN {ROW_DELETES} {row_inserts("sqlite")} END""",
    f"""INSERT INTO {PAIR} ({COLUMNS})
    SELECT {values("a", "b", "sqlite")}
    FROM reviews_prediction a JOIN reviews_prediction b ON {same_request("a", "b")}""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS predictions_pair_add",
    "DROP TRIGGER IF EXISTS predictions_pair_take",
    "DROP TRIGGER IF EXISTS predictions_pair_redo",
    f"DELETE FROM {PAIR}",
]


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":  # several statements: no params
        schema_editor.execute(POSTGRESQL, params=None)
    else:
        for statement in SQLITE:
            schema_editor.execute(statement)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_REVERSE, params=None)
    else:
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("predictions", "0009_prediction_pair")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
