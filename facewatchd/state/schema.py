"""The schema of the state database, as the migrations that build it.

Versioned with PRAGMA user_version: each entry moves the schema from version i to
i + 1 and runs in one transaction when the database is opened. Append only.
"""

DB_NAME = "facewatchd.db"

MIGRATIONS = [
    """
    CREATE TABLE persons (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created REAL NOT NULL
    );
    CREATE TABLE refs (
        id INTEGER PRIMARY KEY,
        person_id INTEGER NOT NULL REFERENCES persons(id),
        origin TEXT NOT NULL,          -- 'folder': from the references folder
        path TEXT NOT NULL,            -- the photo it was taken from
        sha256 TEXT NOT NULL,
        box TEXT NOT NULL,             -- JSON [top, right, bottom, left]
        encoding BLOB NOT NULL,        -- 128 x float64, little-endian
        active INTEGER NOT NULL DEFAULT 1,
        created REAL NOT NULL
    );
    CREATE INDEX refs_sha ON refs(sha256);
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        source TEXT NOT NULL,          -- where it was found
        target TEXT,                   -- where it went (or is going)
        links TEXT NOT NULL DEFAULT '[]',  -- further names, one per extra person
        state TEXT NOT NULL,           -- moving | done | abandoned
        outcome TEXT NOT NULL,         -- sorted | review | duplicate | failed
        reason TEXT NOT NULL,
        persons TEXT NOT NULL DEFAULT '[]',
        evidence TEXT NOT NULL,        -- JSON: faces, boxes, verdicts, frame times, rule
        original_id INTEGER REFERENCES files(id),
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE INDEX files_sha ON files(sha256);
    CREATE INDEX files_target ON files(target);
    CREATE INDEX files_moving ON files(state) WHERE state = 'moving';
    """,
    """
    ALTER TABLE files ADD COLUMN prior_id INTEGER REFERENCES files(id);
    ALTER TABLE files ADD COLUMN next_id INTEGER REFERENCES files(id);
    ALTER TABLE files ADD COLUMN item_id INTEGER;
    ALTER TABLE files ADD COLUMN actor TEXT NOT NULL DEFAULT 'daemon';
    ALTER TABLE files ADD COLUMN taught TEXT NOT NULL DEFAULT '[]';
    UPDATE files SET item_id = id WHERE outcome IN ('review', 'duplicate', 'failed');
    CREATE INDEX files_current ON files(outcome) WHERE state = 'done' AND next_id IS NULL;
    CREATE INDEX files_item ON files(item_id);
    CREATE INDEX files_source ON files(source);
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        idx INTEGER NOT NULL,
        box TEXT NOT NULL,
        score REAL NOT NULL,
        time REAL,
        encoding BLOB NOT NULL,
        UNIQUE (sha256, idx)
    );
    CREATE TABLE thumbnails (
        sha256 TEXT PRIMARY KEY,
        jpeg BLOB NOT NULL,
        time REAL
    );
    CREATE TABLE ignored_faces (
        face_id INTEGER PRIMARY KEY REFERENCES faces(id)
    );
    """,
    """
    -- The sidecars (XMP, JSON, AAE) a move carried: [{"from", "to", "sha256", "copy"}].
    ALTER TABLE files ADD COLUMN sidecars TEXT NOT NULL DEFAULT '[]';
    """,
    """
    -- Settings changed at run time, over the configuration file (config/overrides.py),
    -- and every change made to them (value NULL: set back to the file's).
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,           -- JSON
        actor TEXT NOT NULL,           -- who set it: a user's name
        at REAL NOT NULL
    );
    CREATE TABLE settings_log (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        value TEXT,
        actor TEXT NOT NULL,
        at REAL NOT NULL
    );
    -- The review queue's size at the end of each day seen, for the statistics (the rest
    -- of them are read off the ledger, by the day a move was made).
    CREATE TABLE queue_sizes (
        day TEXT PRIMARY KEY,          -- local date, YYYY-MM-DD
        size INTEGER NOT NULL
    );
    CREATE INDEX files_created ON files(created);
    """,
    """
    -- "Not this person" (facewatchctl not): faces a person said are not PERSON. A face
    -- near one is never sorted to PERSON without a person's say (policy/decide.py).
    CREATE TABLE negatives (
        id INTEGER PRIMARY KEY,
        person_id INTEGER NOT NULL REFERENCES persons(id),
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        box TEXT NOT NULL,
        encoding BLOB NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created REAL NOT NULL
    );
    -- How the encoder saw a face, for the reference audit: detector score, side in px,
    -- sharpness (variance of the Laplacian), or NULL: not recorded.
    ALTER TABLE refs ADD COLUMN score REAL;
    ALTER TABLE refs ADD COLUMN side REAL;
    ALTER TABLE refs ADD COLUMN sharpness REAL;
    ALTER TABLE faces ADD COLUMN side REAL;
    ALTER TABLE faces ADD COLUMN sharpness REAL;
    """,
]
