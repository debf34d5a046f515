"""CPI release dates (the BLS calendar, else the lag rule), the as-of rule, and the inflation mart."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from flows.availability import cpi_released_at
from flows.datasets import cpi_release, registry
from flows.ingest import steps as ingest
from flows.settings import ConfigError, load_settings
from flows.validation.gx import validate_frame

SETTINGS = load_settings({})
LAG = SETTINGS.cpi_release_lag_days


# --- the release calendar ----------------------------------------------------------------------------


def test_calendar_holds_the_shutdown_delays_and_the_month_never_published() -> None:
    calendar = cpi_release.load_calendar()
    assert calendar[date(2025, 9, 1)].release_date == date(2025, 10, 24)
    assert calendar[date(2025, 11, 1)].release_date == date(2025, 12, 18)
    assert calendar[date(2025, 10, 1)].release_date is None  # October 2025: never published
    for month, release in calendar.items():
        assert month.day == 1 and not release.is_estimated
        assert release.source_url and release.source_url.startswith(("https://", "http://"))
        if release.release_date is not None:  # published within the two months after the reference month
            following = cpi_release.following_month(month)
            assert following is not None and following <= release.release_date <= following + timedelta(days=60)


def test_calendar_agrees_with_the_curated_cpi_release_events() -> None:
    """Every BLS CPI release in the curated events file is in the calendar with the same date."""
    events = pd.read_csv(SETTINGS.policy_events_file)
    releases = events[events["category"] == "inflation_release"]
    calendar = {r.release_date: month for month, r in cpi_release.load_calendar().items() if r.release_date}
    assert len(releases) >= 4
    for event_date in releases["event_date"]:
        assert date.fromisoformat(event_date) in calendar, event_date


def test_release_date_is_scheduled_when_known_else_estimated_with_the_configured_lag() -> None:
    scheduled = cpi_release.release_date(date(2025, 9, 1), SETTINGS)
    assert (scheduled.release_date, scheduled.is_estimated) == (date(2025, 10, 24), False)
    estimated = cpi_release.release_date(date(2026, 7, 1), SETTINGS)
    assert (estimated.release_date, estimated.is_estimated) == (date(2026, 8, 15), True)  # day 15 of August
    later = cpi_release.release_date(date(2026, 7, 1), dataclasses.replace(SETTINGS, cpi_release_lag_days=20))
    assert (later.release_date, later.is_estimated) == (date(2026, 8, 20), True)
    assert cpi_release.release_date(date(2026, 12, 1), SETTINGS).release_date == date(2027, 1, 15)  # across a year
    assert cpi_release.release_date(date(2025, 9, 17), SETTINGS).reference_month == date(2025, 9, 1)
    never = cpi_release.release_date(date(2025, 10, 1), SETTINGS)
    assert never.release_date is None and not never.is_known_on(date(2030, 1, 1))
    assert cpi_release.release_date(date(9999, 12, 1), SETTINGS).release_date is None  # no next month to release in


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reference_month,release_date,source_url\n2025-09-01,2025-09-30,https://x\n", "not after reference month"),
        ("reference_month,release_date,source_url\n2025-09-15,2025-10-24,https://x\n", "not the first day"),
        ("reference_month,release_date,source_url\n2025-09-01,24/10/2025,https://x\n", "YYYY-MM-DD"),
        (
            "reference_month,release_date,source_url\n2025-09-01,2025-10-24,https://x\n2025-09-01,2025-10-25,https://x\n",
            "listed twice",
        ),
    ],
)
def test_a_bad_calendar_is_a_configuration_error_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cpi_release_dates.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as raised:
        cpi_release.load_calendar(path)
    assert str(path) in str(raised.value) and "line" in str(raised.value)


# --- the as-of rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "as_of", "known"),
    [
        (date(2025, 9, 1), date(2025, 10, 15), False),  # the lag rule alone would have said yes
        (date(2025, 9, 1), date(2025, 10, 20), False),  # delayed by the shutdown
        (date(2025, 9, 1), date(2025, 10, 24), True),
        (date(2025, 11, 1), date(2025, 12, 17), False),
        (date(2025, 11, 1), date(2025, 12, 18), True),
        (date(2025, 10, 1), date(2030, 1, 1), False),  # never published
        (date(2026, 4, 1), date(2026, 5, 11), False),
        (date(2026, 4, 1), date(2026, 5, 12), True),
        (date(2026, 8, 1), date(2026, 9, 14), False),  # estimated: the 15th of the next month
        (date(2026, 8, 1), date(2026, 9, 15), True),
    ],
)
def test_a_cpi_month_is_known_only_from_its_release_date(month: date, as_of: date, known: bool) -> None:
    assert cpi_release.is_released(month, as_of=as_of, lag_days=LAG) is known


def test_cpi_extract_as_of_a_date_holds_only_the_prints_released_by_then() -> None:
    def months(as_of: date) -> set[date]:
        batch = ingest.extract(registry.get("cpi"), settings=SETTINGS, warehouse=None, as_of=as_of, load_id="cpi-test")  # type: ignore[arg-type]
        assert batch.frame["release_date"].notna().all() and (batch.frame["release_date"] <= as_of).all()
        return set(batch.frame["period_date"])

    before, on_release = months(date(2025, 10, 20)), months(date(2025, 10, 24))
    assert max(before) == date(2025, 8, 1) and date(2025, 9, 1) not in before
    assert max(on_release) == date(2025, 9, 1)
    assert max(months(date(2025, 12, 17))) == date(2025, 9, 1)  # October never came, November not yet
    assert date(2025, 10, 1) not in months(date(2026, 11, 20))


def test_released_by_adds_the_release_columns_and_keeps_rows_it_cannot_date() -> None:
    frame = pd.DataFrame(
        {
            "series_id": ["CUUR0000SA0"] * 4,
            "period_date": [date(2025, 8, 1), date(2025, 9, 1), date(2026, 7, 1), "not a date"],
            "value": [323.976, 324.8, 333.918, 1.0],
            "source": ["bls_api"] * 4,
        }
    )
    kept = cpi_release.released_by(frame, as_of=date(2025, 10, 20), lag_days=LAG)
    assert list(kept["period_date"]) == [date(2025, 8, 1), "not a date"]  # September and July 2026 not yet out
    assert kept.loc[0, "release_date"] == date(2025, 9, 11) and not kept.loc[0, "is_release_date_estimated"]
    assert pd.isna(kept.loc[1, "release_date"]) and pd.isna(kept.loc[1, "is_release_date_estimated"])
    dated = cpi_release.with_release_dates(frame, lag_days=LAG)
    assert dated.loc[2, "release_date"] == date(2026, 8, 15) and dated.loc[2, "is_release_date_estimated"]


def _cpi_row(**change: object) -> dict[str, object]:
    row: dict[str, object] = {
        "series_id": "CUUR0000SA0",
        "period_date": date(2025, 9, 1),
        "value": 324.8,
        "release_date": date(2025, 10, 24),
        "is_release_date_estimated": False,
        "source": "bls_api",
    }
    row = {**row, **change}
    # when BLS published it: 08:30 New York on the release date (2025-10-24 12:30 UTC for September)
    released = row["release_date"]
    row["available_at"] = cpi_released_at(released) if released is not None else None
    return row


def test_the_cpi_suite_checks_the_release_columns() -> None:
    good = validate_frame(registry.get("cpi"), pd.DataFrame([_cpi_row()]), settings=SETTINGS, as_of=date(2025, 10, 24))
    assert good.success, [failure.describe() for failure in good.failures]
    frame = pd.DataFrame(
        [
            _cpi_row(),
            _cpi_row(series_id="CUSR0000SA0", release_date=date(2025, 9, 30)),  # before the month ended
            _cpi_row(series_id="CUUR0000SA0L1E", release_date=None, is_release_date_estimated=None),
        ]
    )
    cpi = registry.get("cpi")
    early = validate_frame(cpi, frame, settings=SETTINGS, as_of=date(2025, 10, 20))  # September not out yet
    counts = {failure.column: failure.unexpected_count for failure in early.failures}
    assert counts == {
        "gx_not_after_as_of": 2,  # released 2025-10-24 (after --as-of), and no release date at all
        "gx_released_after_reference_month": 2,  # "released" 2025-09-30, and no release date at all
        "release_date": 1,
        "is_release_date_estimated": 1,
        "available_at": 1,  # no release date, so no time it became public
    }
    missing = validate_frame(cpi, pd.DataFrame([_cpi_row()]).drop(columns=["release_date"]), settings=SETTINGS,
                             as_of=date(2025, 10, 24))  # fmt: skip
    assert any(f.rule.startswith("expect_column_to_exist(column=release_date") for f in missing.failures)


# --- the warehouse: raw.cpi and marts.inflation after the real daily flow ------------------------------


def test_raw_cpi_rows_carry_their_release_date(warehouse) -> None:
    assert warehouse.query(
        "select count(*) from raw.cpi where release_date is null or is_release_date_estimated is null"
    ) == [(0,)]
    assert warehouse.query(
        "select distinct release_date, is_release_date_estimated from raw.cpi where period_date = '2025-09-01'"
    ) == [(date(2025, 10, 24), False)]
    assert warehouse.query(
        "select distinct release_date, is_release_date_estimated from raw.cpi where period_date = '2026-08-01'"
    ) == [(date(2026, 9, 15), True)]
    assert warehouse.query("select count(*) from raw.cpi where release_date > '2026-11-20'") == [(0,)]


def test_inflation_around_the_october_2025_gap(warehouse) -> None:
    rows = warehouse.query(
        """
        select month_date, is_published, release_date, is_release_date_estimated,
               headline_nsa_mom_pct, headline_sa_mom_pct, core_nsa_mom_pct, core_sa_mom_pct,
               headline_nsa_yoy_pct is not null, headline_sa_yoy_pct is not null,
               core_nsa_yoy_pct is not null, core_sa_yoy_pct is not null
        from marts.inflation where month_date between '2025-10-01' and '2025-11-01' order by month_date
        """,
        published=True,
    )
    assert rows == [
        (date(2025, 10, 1), False, None, None, None, None, None, None, False, False, False, False),
        (date(2025, 11, 1), True, date(2025, 12, 18), False, None, None, None, None, True, True, True, True),
    ]


def test_inflation_prints_match_bls(warehouse) -> None:
    april = warehouse.query(
        """
        select headline_yoy_pct_1dp, headline_mom_pct_1dp, core_yoy_pct_1dp, core_mom_pct_1dp, regime,
               release_date, is_release_date_estimated
        from marts.inflation where month_date = '2026-04-01'
        """,
        published=True,
    )
    assert april == [(3.8, 0.6, 2.8, 0.4, "above_3pct", date(2026, 5, 12), False)]  # as BLS printed on 2026-05-12
    november = warehouse.query(
        """
        select headline_yoy_pct_1dp, previous_print_month_date, headline_yoy_change_vs_previous_print_pp,
               core_yoy_pct_1dp, core_yoy_change_vs_previous_print_pp
        from marts.inflation where month_date = '2025-11-01'
        """,
        published=True,
    )
    assert november == [(2.7, date(2025, 9, 1), -0.3, 2.6, -0.4)]  # 2.7% from 3.0% in September


def test_cpi_known_on_a_date_is_the_latest_release_on_or_before_it(warehouse) -> None:
    """The contract relative_performance relies on: ASOF join int_cpi_monthly on release_date <= the date."""
    known = warehouse.query(
        """
        with days as (
            select cast(unnest(['2025-10-23', '2025-10-24', '2025-12-17', '2025-12-18']) as date) as trade_date
        )
        select days.trade_date, cpi.month_date, cpi.headline_nsa_index
        from days asof left join intermediate.int_cpi_monthly as cpi on cpi.release_date <= days.trade_date
        order by 1
        """
    )
    assert known == [
        (date(2025, 10, 23), date(2025, 8, 1), 323.976),
        (date(2025, 10, 24), date(2025, 9, 1), 324.8),
        (date(2025, 12, 17), date(2025, 9, 1), 324.8),
        (date(2025, 12, 18), date(2025, 11, 1), 324.122),
    ]


def test_every_inflation_column_is_described(warehouse) -> None:
    manifest = json.loads((warehouse.path / "dbt_target" / "manifest.json").read_text())
    node = manifest["nodes"]["model.gapwatch.inflation"]
    described = {name for name, column in node["columns"].items() if column.get("description", "").strip()}
    columns = {name for (name,) in warehouse.query("select column_name from information_schema.columns "
                                                   "where table_schema = 'marts' and table_name = 'inflation'",
                                                   published=True)}  # fmt: skip
    assert len(columns) == 31 and columns <= described, sorted(columns - described)
