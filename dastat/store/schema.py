"""The store's tables, as a list of migrations: migration i takes a store from version i to i + 1.

The version lives in SQLite's ``PRAGMA user_version``; a store written by an older dastat is
migrated forward, in one transaction, the first time a newer dastat opens it.
"""

from __future__ import annotations

import sqlite3

from dastat.errors import StoreError

_PROBE_COLUMNS_V1 = """
    run_id TEXT PRIMARY KEY,
    source_id INTEGER REFERENCES sources(source_id),
    source TEXT NOT NULL,
    teacher TEXT, teacher_checksum TEXT, dataset TEXT, scheme TEXT, scheme_params TEXT,
    protocol TEXT, randomness TEXT, set_size INTEGER, seed INTEGER,
    t_stddev REAL, ci_low REAL, ci_high REAL, n_sets INTEGER, rows_per_set INTEGER,
    n_teacher_forwards INTEGER, t_ce_stddev REAL, mean_entropy_x REAL, mean_entropy_xprime REAL,
    teacher_acc_x REAL, teacher_acc_xprime REAL, floor REAL, t_stddev_rel REAL,
    normalisation TEXT, elapsed_s REAL, dastat_version TEXT, created_at TEXT
"""

_STUDENT_COLUMNS_V1 = """
    run_id TEXT PRIMARY KEY,
    source_id INTEGER REFERENCES sources(source_id),
    source TEXT NOT NULL,
    teacher TEXT, teacher_checksum TEXT, student TEXT, dataset TEXT, scheme TEXT, scheme_params TEXT,
    seed INTEGER, epochs INTEGER, epoch_factor REAL,
    test_loss REAL, test_acc1 REAL, test_acc5 REAL, best_test_acc1 REAL, best_test_loss REAL,
    best_epoch INTEGER, train_loss REAL, elapsed_s REAL, dastat_version TEXT, created_at TEXT,
    config TEXT
"""

# The teacher-side predictors beside t_stddev (docs/method.md, "Teacher-side predictors") and their intervals:
# the columns migration 3 -> 4 adds, so frozen (a later column is a later migration).
PREDICTOR_NAMES = ("t_stddev_rel", "t_ce_stddev", "entropy_xprime", "affinity", "ce_xprime", "consistency",
                   "sharpness")
PREDICTOR_FIELDS = (
    "entropy_xprime", "affinity", "ce_xprime", "consistency", "sharpness",
    *(f"{name}_ci_{end}" for name in PREDICTOR_NAMES for end in ("low", "high")),
)
_V3_PROBE_NAMES = [c.split()[0] for c in " ".join(_PROBE_COLUMNS_V1.split()).split(", ")] + ["extra"]
_PROBE_COLUMNS_V4 = (_PROBE_COLUMNS_V1.replace("rows_per_set INTEGER", "rows_per_set REAL")
                     + ", extra TEXT, " + ", ".join(f"{c} REAL" for c in PREDICTOR_FIELDS))

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: the first layout.
    f"""
    CREATE TABLE sources (
        source_id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL UNIQUE,
        content_hash TEXT NOT NULL,
        parser TEXT NOT NULL,
        ingested_at TEXT NOT NULL
    );
    CREATE TABLE probes ({_PROBE_COLUMNS_V1});
    CREATE TABLE students ({_STUDENT_COLUMNS_V1});
    CREATE TABLE curves (
        run_id TEXT NOT NULL REFERENCES students(run_id),
        epoch INTEGER NOT NULL,
        test_loss REAL, test_acc1 REAL, test_acc5 REAL, train_loss REAL, lr REAL, wall_s REAL,
        PRIMARY KEY (run_id, epoch)
    );
    """,
    # 1 -> 2: fields a source states beyond the named columns (kept, not dropped), and
    # indexes for table()'s joins and for replacing a changed file's records.
    """
    ALTER TABLE probes ADD COLUMN extra TEXT;
    ALTER TABLE students ADD COLUMN extra TEXT;
    CREATE INDEX probes_key ON probes (dataset, teacher, scheme, protocol, randomness, set_size);
    CREATE INDEX students_key ON students (dataset, teacher, student, scheme);
    CREATE INDEX probes_source ON probes (source_id);
    CREATE INDEX students_source ON students (source_id);
    CREATE INDEX sources_hash ON sources (content_hash);
    """,
    # 2 -> 3: how a student was trained beyond its scheme: the randomness its augmentation drew with
    # (per sample or per batch) and its distillation method (kd, crd, ...).
    """
    ALTER TABLE students ADD COLUMN randomness TEXT;
    ALTER TABLE students ADD COLUMN method TEXT;
    """,
    # 3 -> 4: the teacher-side predictors and their intervals (NULL for older probes), and rows_per_set,
    # a mean, becomes REAL. SQLite cannot change a column's type: the table is rebuilt and its indexes remade.
    f"""
    CREATE TABLE probes_v4 ({_PROBE_COLUMNS_V4});
    INSERT INTO probes_v4 ({', '.join(_V3_PROBE_NAMES)}) SELECT {', '.join(_V3_PROBE_NAMES)} FROM probes;
    DROP TABLE probes;
    ALTER TABLE probes_v4 RENAME TO probes;
    CREATE INDEX probes_key ON probes (dataset, teacher, scheme, protocol, randomness, set_size);
    CREATE INDEX probes_source ON probes (source_id);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, *, target: int = SCHEMA_VERSION) -> int:
    """Bring the database on ``conn`` (autocommit mode) up to ``target``; returns the version found.

    Runs inside ``BEGIN IMMEDIATE`` so that two processes opening a new store at once do not both
    migrate it: the second sees the first one's version once it gets the write lock.
    """
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the store was written by a newer dastat (schema version {found}; this dastat knows "
            f"up to {SCHEMA_VERSION}). Upgrade dastat to read it."
        )
    if found >= target:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        for version in range(found, target):
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT the open transaction first; run the statements one by one.
    return [s.strip() for s in script.split(";") if s.strip()]
