from __future__ import annotations

from datetime import datetime

import pytest

from facewatchd.errors import UsageError
from facewatchd.undo import parse_since

NOW = datetime(2026, 11, 22, 15, 30).timestamp()


@pytest.mark.parametrize("text, expected", [
    ("30m", NOW - 1800), ("2h", NOW - 7200), ("1.5d", NOW - 1.5 * 86400), ("45s", NOW - 45),
    ("10:00", datetime(2026, 11, 22, 10, 0).timestamp()),
    ("2026-11-21 08:15", datetime(2026, 11, 21, 8, 15).timestamp()),
    ("2026-11-21T08:15:30", datetime(2026, 11, 21, 8, 15, 30).timestamp()),
])
def test_since_takes_durations_clock_times_and_dates(text: str, expected: float) -> None:
    assert parse_since(text, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["yesterday", "", "5 parsecs", "25:99"])
def test_anything_else_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(UsageError, match="30m, 2h"):
        parse_since(text, NOW)
