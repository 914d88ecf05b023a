"""Settings changed at run time (config/overrides.py says what they mean), and the record
of who changed what, when."""

from __future__ import annotations

import json
import time
from typing import Any

from .database import Database


class SettingsTable(Database):
    def overrides(self) -> dict[str, dict[str, Any]]:
        """Each setting changed at run time: key → {"value", "actor", "at"}, oldest first."""
        return {r["key"]: {"value": json.loads(r["value"]), "actor": r["actor"], "at": r["at"]}
                for r in self.db.execute("SELECT * FROM settings ORDER BY at")}

    def set_setting(self, key: str, value: Any, actor: str) -> None:
        now = time.time()
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO settings (key, value, actor, at) VALUES (?, ?, ?, ?)",
                            (key, json.dumps(value), actor, now))
            self.db.execute("INSERT INTO settings_log (key, value, actor, at) VALUES (?, ?, ?, ?)",
                            (key, json.dumps(value), actor, now))

    def unset_setting(self, key: str, actor: str) -> bool:
        """Back to the file's value; False if it was not changed at run time."""
        with self.transaction():
            if self.db.execute("DELETE FROM settings WHERE key = ?", (key,)).rowcount == 0:
                return False
            self.db.execute("INSERT INTO settings_log (key, value, actor, at) VALUES (?, NULL, ?, ?)",
                            (key, actor, time.time()))
        return True

    def settings_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest changes, newest first; value None: set back to the file's."""
        return [{"key": r["key"], "value": None if r["value"] is None else json.loads(r["value"]),
                 "actor": r["actor"], "at": r["at"]}
                for r in self.db.execute("SELECT * FROM settings_log ORDER BY id DESC LIMIT ?", (limit,))]
