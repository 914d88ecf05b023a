"""The state database: one SQLite file, written only by the main process.

Tables: persons and refs (references.py), files, the ledger (ledger.py), faces and
thumbnails of files in review (faces.py), settings changed at run time (settings.py),
statistics by day (stats.py); the schema and its migrations (schema.py).
`Store` is all of them over the one connection (database.py).
"""

from __future__ import annotations

from .faces import FaceTable, StoredFace
from .ledger import Ledger, LedgerEntry, Record
from .references import Quality, ReferenceRow, ReferenceTable
from .schema import DB_NAME
from .settings import SettingsTable
from .stats import StatsTable


class Store(Ledger, ReferenceTable, FaceTable, SettingsTable, StatsTable):
    """The one connection to the state database, with every table's queries."""


__all__ = ["DB_NAME", "LedgerEntry", "Quality", "Record", "ReferenceRow", "Store", "StoredFace"]
