"""What each control command does, by domain; found by name through the table.

Returns data; facewatchctl (or the review page) decides how it looks.
"""

from __future__ import annotations

from . import clusters, daemon, files, page, people, persons, pictures, queue, settings
from .base import HANDLERS, Context, Selection, Service, dispatch

__all__ = ["HANDLERS", "Context", "Selection", "Service", "clusters", "daemon", "dispatch", "files",
           "page", "people", "persons", "pictures", "queue", "settings"]
