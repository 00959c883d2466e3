"""Keep SegmentCount exact with triggers on reviews_prediction, and fill it from the rows
already logged (issue 12). The triggers and the backfill run in one transaction: creating a
trigger locks the table against writes until the migration commits, so no row is counted
twice or missed.

PostgreSQL: one upsert per INSERT or COPY statement from its transition table (grouped and
sorted by key, so that concurrent batches lock the count rows in one order), one decrement
per DELETE statement, a row trigger for the rare UPDATE that moves a prediction to another
version, segment or day, and TRUNCATE empties the counts. SQLite: the same per row.
The backfill is one INSERT … SELECT … GROUP BY (nothing on an empty log).
"""

from django.db import migrations

PG_DAY = "(predicted_at AT TIME ZONE 'UTC')::date"

POSTGRESQL = f"""
CREATE FUNCTION predictions_segment_count_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO predictions_segmentcount AS c (model_version_id, segment, day, rows)
    SELECT model_version_id, segment, {PG_DAY}, count(*)
    FROM added GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (model_version_id, segment, day) DO UPDATE SET rows = c.rows + EXCLUDED.rows;
    RETURN NULL;
END $$;

CREATE FUNCTION predictions_segment_count_take() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH gone AS (
        SELECT model_version_id, segment, {PG_DAY} AS day, count(*) AS n
        FROM removed GROUP BY 1, 2, 3
    ), locked AS (
        SELECT c.id, gone.n FROM predictions_segmentcount c
        JOIN gone USING (model_version_id, segment, day)
        ORDER BY c.model_version_id, c.segment, c.day FOR UPDATE OF c
    )
    UPDATE predictions_segmentcount c SET rows = c.rows - locked.n
    FROM locked WHERE c.id = locked.id;
    DELETE FROM predictions_segmentcount
    WHERE rows = 0 AND model_version_id IN (SELECT DISTINCT model_version_id FROM removed);
    RETURN NULL;
END $$;

CREATE FUNCTION predictions_segment_count_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE predictions_segmentcount SET rows = rows - 1
    WHERE model_version_id = OLD.model_version_id AND segment = OLD.segment
      AND day = (OLD.predicted_at AT TIME ZONE 'UTC')::date;
    DELETE FROM predictions_segmentcount
    WHERE model_version_id = OLD.model_version_id AND segment = OLD.segment
      AND day = (OLD.predicted_at AT TIME ZONE 'UTC')::date AND rows = 0;
    INSERT INTO predictions_segmentcount AS c (model_version_id, segment, day, rows)
    VALUES (NEW.model_version_id, NEW.segment, (NEW.predicted_at AT TIME ZONE 'UTC')::date, 1)
    ON CONFLICT (model_version_id, segment, day) DO UPDATE SET rows = c.rows + 1;
    RETURN NULL;
END $$;

CREATE FUNCTION predictions_segment_count_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM predictions_segmentcount;
    RETURN NULL;
END $$;

CREATE TRIGGER predictions_segment_count_add AFTER INSERT ON reviews_prediction
REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION predictions_segment_count_add();

CREATE TRIGGER predictions_segment_count_take AFTER DELETE ON reviews_prediction
REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION predictions_segment_count_take();

CREATE TRIGGER predictions_segment_count_move
AFTER UPDATE OF model_version_id, segment, predicted_at ON reviews_prediction
FOR EACH ROW WHEN (
    OLD.model_version_id IS DISTINCT FROM NEW.model_version_id
    OR OLD.segment IS DISTINCT FROM NEW.segment
    OR (OLD.predicted_at AT TIME ZONE 'UTC')::date
       IS DISTINCT FROM (NEW.predicted_at AT TIME ZONE 'UTC')::date
)
EXECUTE FUNCTION predictions_segment_count_move();

CREATE TRIGGER predictions_segment_count_clear AFTER TRUNCATE ON reviews_prediction
FOR EACH STATEMENT EXECUTE FUNCTION predictions_segment_count_clear();

INSERT INTO predictions_segmentcount (model_version_id, segment, day, rows)
SELECT model_version_id, segment, {PG_DAY}, count(*)
FROM reviews_prediction GROUP BY 1, 2, 3;
"""

POSTGRESQL_REVERSE = """
DROP TRIGGER IF EXISTS predictions_segment_count_add ON reviews_prediction;
DROP TRIGGER IF EXISTS predictions_segment_count_take ON reviews_prediction;
DROP TRIGGER IF EXISTS predictions_segment_count_move ON reviews_prediction;
DROP TRIGGER IF EXISTS predictions_segment_count_clear ON reviews_prediction;
DROP FUNCTION IF EXISTS predictions_segment_count_add();
DROP FUNCTION IF EXISTS predictions_segment_count_take();
DROP FUNCTION IF EXISTS predictions_segment_count_move();
DROP FUNCTION IF EXISTS predictions_segment_count_clear();
DELETE FROM predictions_segmentcount;
"""

# Django stores a datetime on SQLite as UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]".
SQLITE_ADD = """
INSERT INTO predictions_segmentcount (model_version_id, segment, day, rows)
VALUES (NEW.model_version_id, NEW.segment, date(NEW.predicted_at), 1)
ON CONFLICT (model_version_id, segment, day) DO UPDATE SET rows = rows + 1;
"""
SQLITE_TAKE = """
UPDATE predictions_segmentcount SET rows = rows - 1
WHERE model_version_id = OLD.model_version_id AND segment = OLD.segment
  AND day = date(OLD.predicted_at);
DELETE FROM predictions_segmentcount
WHERE model_version_id = OLD.model_version_id AND segment = OLD.segment
  AND day = date(OLD.predicted_at) AND rows = 0;
"""
SQLITE = [
    f"""CREATE TRIGGER predictions_segment_count_add AFTER INSERT ON reviews_prediction
    BEGIN {SQLITE_ADD} END""",
    f"""CREATE TRIGGER predictions_segment_count_take AFTER DELETE ON reviews_prediction
    BEGIN {SQLITE_TAKE} END""",
    f"""CREATE TRIGGER predictions_segment_count_move
    AFTER UPDATE OF model_version_id, segment, predicted_at ON reviews_prediction
    WHEN OLD.model_version_id IS NOT NEW.model_version_id OR OLD.segment IS NOT NEW.segment
      OR date(OLD.predicted_at) IS NOT date(NEW.predicted_at)
    BEGIN {SQLITE_TAKE} {SQLITE_ADD} END""",
    """INSERT INTO predictions_segmentcount (model_version_id, segment, day, rows)
    SELECT model_version_id, segment, date(predicted_at), count(*)
    FROM reviews_prediction GROUP BY 1, 2, 3""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS predictions_segment_count_add",
    "DROP TRIGGER IF EXISTS predictions_segment_count_take",
    "DROP TRIGGER IF EXISTS predictions_segment_count_move",
    "DELETE FROM predictions_segmentcount",
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
    dependencies = [("predictions", "0006_segment_count")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
