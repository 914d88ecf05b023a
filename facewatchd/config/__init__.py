"""The configuration: one TOML file parsed once into frozen dataclasses.

Every section is a dataclass whose fields are the allowed keys; the field's type is
the key's type, its default makes the key optional, and `ranged` gives its range. Validation is driven by
those declarations, so a new key is one line here and the error messages follow.
A problem is reported as one line naming the file and the key.
"""

from __future__ import annotations

from .load import layered, load, read
from .model import (
                    DEFAULT_PATH,
                    PERSON_PLACEHOLDER,
                    ClusterConfig,
                    Config,
                    DaemonConfig,
                    PersonConfig,
                    RecognitionConfig,
                    ReviewConfig,
                    WatchConfig,
                    XmpConfig,
                    range_of,
)

__all__ = ["DEFAULT_PATH", "PERSON_PLACEHOLDER", "ClusterConfig", "Config", "DaemonConfig", "PersonConfig",
           "RecognitionConfig", "ReviewConfig", "WatchConfig", "XmpConfig", "layered", "load", "read",
           "range_of"]
