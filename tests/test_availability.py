"""Point-in-time truth: the cut-off of a run as of a date, and one availability rule per kind of fact."""

from __future__ import annotations

from datetime import date, datetime, time

import pandas as pd

from flows.availability import (
    after_close,
    cpi_released_at,
    event_available_at,
    federal_register_public_at,
    is_public_by,
    public_by,
    public_cutoff,
)


def test_the_cut_off_is_the_end_of_the_day_in_new_york_in_utc() -> None:
    assert public_cutoff(date(2026, 6, 30)) == datetime(2026, 7, 1, 4, 0)  # EDT: UTC-4
    assert public_cutoff(date(2026, 11, 20)) == datetime(2026, 11, 21, 5, 0)  # EST: UTC-5
    assert public_cutoff(date(2026, 3, 7)) == datetime(2026, 3, 8, 5, 0)  # the night DST starts: still EST
    assert is_public_by(datetime(2026, 7, 1, 3, 59, 59), date(2026, 6, 30))
    assert not is_public_by(datetime(2026, 7, 1, 4, 0), date(2026, 6, 30))


def test_public_by_is_false_for_what_is_not_a_timestamp() -> None:
    values = pd.Series([datetime(2026, 6, 30, 20, 0), datetime(2026, 7, 1, 4, 0), None, "not a time"])
    assert public_by(values, date(2026, 6, 30)).tolist() == [True, False, False, False]


def test_one_rule_per_kind_of_fact() -> None:
    assert after_close(date(2026, 6, 30)) == datetime(2026, 6, 30, 20, 0)  # 16:00 EDT
    assert after_close(date(2026, 6, 30), zone="Asia/Hong_Kong") == datetime(2026, 6, 30, 8, 0)  # 16:00 HKT
    assert cpi_released_at(date(2026, 1, 13)) == datetime(2026, 1, 13, 13, 30)  # 08:30 EST
    assert federal_register_public_at(date(2026, 7, 2)) == datetime(2026, 7, 2, 10, 0)  # 06:00 EDT
    # a curated event: its own time, else the close of the issuer's market, the latest of several
    assert event_available_at(date(2026, 6, 17), "US", at=time(14, 0)) == datetime(2026, 6, 17, 18, 0)
    assert event_available_at(date(2026, 6, 17), "CN") == datetime(2026, 6, 17, 7, 0)  # 15:00 Shanghai
    assert event_available_at(date(2026, 6, 17), "JP") == datetime(2026, 6, 17, 6, 30)  # 15:30 Tokyo
    assert event_available_at(date(2026, 6, 17), "US-CN") == datetime(2026, 6, 17, 20, 0)
    assert event_available_at(date(2026, 6, 17), "global") == datetime(2026, 6, 17, 20, 0)
    # every rule for a fact dated D is public by the end of D
    for moment in (after_close(date(2026, 6, 30), zone="Asia/Tokyo"), cpi_released_at(date(2026, 6, 30))):
        assert is_public_by(moment, date(2026, 6, 30))
