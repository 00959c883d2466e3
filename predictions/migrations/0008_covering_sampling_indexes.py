"""PostgreSQL: the indexes sampling walks carry the columns its queries read (INCLUDE), so
that a sample is read from the index alone, an index-only scan touching no table page once
VACUUM has marked the pages all-visible (issue 12). The indexes keep their names, key
columns and, for the unique one, its constraint: the model state does not change, and
SQLite (which has no INCLUDE) keeps the plain indexes.

- reviews_pred_random (model_version, random_key): + id, predicted_at (the window) and
  request_id (the other version's prediction of the same request, pairwise);
- reviews_pred_segment (model_version, segment, random_key): + id, predicted_at;
- reviews_pred_time (model_version, predicted_at): + segment (the rows per segment of a
  window's partial first and last days, beside SegmentCount's whole days);
- reviews_prediction_request_once (model_version, request_id): + id (the pairwise probe).

Each index is built anew beside the old one with CREATE INDEX CONCURRENTLY (a few minutes
on 10,000,000 rows; reads and writes go on meanwhile), then swapped in: the old one dropped
concurrently and the new one renamed, and the unique constraint moved onto its new index
(ALTER TABLE … USING INDEX: a moment's exclusive lock). Not atomic, as CONCURRENTLY needs;
an interrupted run is resumed by running the migration again (leftovers are dropped first).
"""

from django.db import migrations

TABLE = "reviews_prediction"
COVERED = {
    "reviews_pred_random": ("model_version_id, random_key", "id, predicted_at, request_id"),
    "reviews_pred_segment": ("model_version_id, segment, random_key", "id, predicted_at"),
    "reviews_pred_time": ("model_version_id, predicted_at", "segment"),
}
UNIQUE = "reviews_prediction_request_once"


def _rebuild(schema_editor, *, covering: bool) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    run("SET maintenance_work_mem = '512MB'")
    for name, (keys, include) in COVERED.items():
        extra = f" INCLUDE ({include})" if covering else ""
        run(f"DROP INDEX CONCURRENTLY IF EXISTS {name}_new")
        run(f"CREATE INDEX CONCURRENTLY {name}_new ON {TABLE} ({keys}){extra}")
        run(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        run(f"ALTER INDEX {name}_new RENAME TO {name}")
    extra = " INCLUDE (id)" if covering else ""
    run(f"DROP INDEX CONCURRENTLY IF EXISTS {UNIQUE}_new")
    run(
        f"CREATE UNIQUE INDEX CONCURRENTLY {UNIQUE}_new "
        f"ON {TABLE} (model_version_id, request_id){extra}"
    )
    run(
        f"ALTER TABLE {TABLE} DROP CONSTRAINT {UNIQUE}, "
        f"ADD CONSTRAINT {UNIQUE} UNIQUE USING INDEX {UNIQUE}_new"
    )
    run("RESET maintenance_work_mem")
    run(f"ANALYZE {TABLE}")


def add_included_columns(apps, schema_editor):
    _rebuild(schema_editor, covering=True)


def drop_included_columns(apps, schema_editor):
    _rebuild(schema_editor, covering=False)


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY run outside a transaction

    dependencies = [("predictions", "0007_segment_count_triggers")]

    operations = [migrations.RunPython(add_included_columns, drop_included_columns)]
