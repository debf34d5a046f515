"""Turn a landed SEC ``companyfacts`` body into ``raw.fundamentals`` rows.

The wire format (``GET /api/xbrl/companyfacts/CIK##########.json``)::

    {"cik": 1045810, "entityName": "NVIDIA CORP",
     "facts": {
       "dei": {"EntityCommonStockSharesOutstanding": {"label": ..., "description": ...,
                "units": {"shares": [{"end": "2024-05-22", "val": 2464000000, "accn": ..., "fy": 2025,
                                      "fp": "Q1", "form": "10-Q", "filed": "2024-05-29"}]}}},
       "us-gaap": {"Revenues": {"label": ..., "description": ...,
                "units": {"USD": [{"start": "2024-01-29", "end": "2024-04-28", "val": 26044000000,
                                   "accn": "0001045810-24-000124", "fy": 2025, "fp": "Q1", "form": "10-Q",
                                   "filed": "2024-05-29", "frame": "CY2024Q1"}, ...]}}},
       "ifrs-full": {...}}}

Every fact is one value a filing reported for one period: ``start``/``end``
for a duration (income and cash-flow items), ``end`` alone for an instant
(balance sheet, cover page). ``fy``/``fp``/``form``/``filed``/``accn``
describe the *filing*, not the fact: a 10-K for fiscal 2025 tags its
fiscal-2024 comparatives ``fy: 2025, fp: "FY"`` too. ``frame`` (a calendar
period such as ``CY2024Q1``) is not used.

Tag mapping (``FIELDS``; per period and report date the first concept in
this order that has a value wins)
----------------------------------------------------------------------------
=================  ==========================================================================
revenue            us-gaap Revenues, RevenueFromContractWithCustomerExcludingAssessedTax,
                   SalesRevenueNet; ifrs-full Revenue, RevenueFromContractsWithCustomers
operating_income   us-gaap OperatingIncomeLoss; ifrs-full ProfitLossFromOperatingActivities
net_income         us-gaap NetIncomeLoss; ifrs-full ProfitLossAttributableToOwnersOfParent,
                   ProfitLoss (owners of the parent first: that is what NetIncomeLoss means)
rd_expense         us-gaap ResearchAndDevelopmentExpense,
                   ResearchAndDevelopmentExpenseExcludingAcquiredInProcessCost;
                   ifrs-full ResearchAndDevelopmentExpense
capex              us-gaap PaymentsToAcquirePropertyPlantAndEquipment,
                   PaymentsToAcquireProductiveAssets; ifrs-full
                   PurchaseOfPropertyPlantAndEquipmentClassifiedAsInvestingActivities,
                   PurchaseOfPropertyPlantAndEquipment -- always a positive amount spent
shares_outstanding us-gaap CommonStockSharesOutstanding (balance sheet, at the period end);
                   ifrs-full NumberOfSharesOutstanding (idem); dei
                   EntityCommonStockSharesOutstanding (cover page, dated a few weeks after
                   the period end: attached to the period its filing reports); last resort
                   us-gaap WeightedAverageNumberOfDilutedSharesOutstanding / ifrs-full
                   AdjustedWeightedAverageShares (an average over the period, not a count at
                   its end; never derived from year-to-date figures)
=================  ==========================================================================

Rules
-----
- Currency: the money facts of one company are read in one currency, the unit
  key (``USD``, ``CNY``, ``TWD``, ``HKD``...) carrying the most facts (ties:
  the one filed last); facts in other units (a 20-F's USD convenience
  translation) are ignored. It is recorded in ``currency``.
- Durations: ``end - start`` of 80-100 days is a quarter, 170-200 a half
  year, 260-290 nine months, 350-380 a fiscal year; other lengths are ignored.
  Quarter rows (``period_months = 3``) come from quarter facts or, when a
  concept has none for that quarter, from two cumulative facts with the same
  ``start`` whose ends are a quarter apart: Q2 = H1 - Q1, Q3 = 9M - H1,
  Q4 = FY - 9M (cash-flow items such as capex are only reported year to
  date). Fiscal-year facts give ``period_months = 12`` rows (``fiscal_quarter = 4``)
  for every filer. A 20-F filer without interim facts gets only those:
  quarters are never invented.
- Instants (shares) attach to the periods ending on their date, or, for
  cover-page facts dated after the period, to the period their filing reports.
- Versions: a figure repeated by later filings (the 10-Q value again as a
  comparative in the next 10-K) keeps its FIRST ``filed`` date as
  ``report_date``, when it became known. A later filing with a DIFFERENT value
  for the same concept and period is a restatement: the period gets another
  row dated with that filing, carrying the other columns as known then. A
  derived quarter is known when the last fact it uses was filed. The key is
  (ticker, fiscal_period_end, period_months, report_date).
- Fiscal year and quarter come from the ``fy``/``fp`` of the filing whose own
  reporting period ends on the row's ``fiscal_period_end`` (``FY`` -> 4).
  Other periods (comparatives older than the filings in the payload) count
  whole quarters from the nearest such period; with none at all, the calendar
  year and quarter of the period end are used.
- Facts filed on or before their own period end are tagging errors and skipped.
- As of a date (``as_of``): only facts filed by then are read, so the rows are
  those known at the end of that day -- among several filings of a fact, the
  newest filed by ``as_of``; a restatement filed later is not yet known. (EDGAR
  dates a filing accepted after 17:30 New York time the next business day, so
  nothing filed after ``as_of`` was public by its end.)
- ``accession_number`` (opt-in, ``with_accessions=True``): the filing(s) that
  made each row known -- the accession numbers of the row's facts filed on its
  ``report_date``, comma-separated -- so the caller can date the row by their
  EDGAR acceptance times (``flows.datasets.fundamentals``).
- A body that is not JSON, has no ``facts`` object, or a mapped fact that is
  unreadable raises :class:`~flows.sources.http.SourceError` (source
  ``sec_edgar``, key ``CIK##########``). A company with no mapped facts gives
  an empty frame.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pandas as pd

from flows.sources.http import SourceError
from flows.sources.sample.generator import FUNDAMENTAL_COLUMNS

SOURCE = "sec_edgar"
OUTPUT_COLUMNS = [*FUNDAMENTAL_COLUMNS, "period_months"]
OUTPUT_DTYPES: dict[str, str] = {
    "ticker": "str", "fiscal_period_end": "object", "fiscal_year": "int64", "fiscal_quarter": "int64",
    "report_date": "object", "currency": "str", "revenue": "float64", "operating_income": "float64",
    "net_income": "float64", "rd_expense": "float64", "capex": "float64", "shares_outstanding": "float64",
    "source": "str", "period_months": "int64",
}  # fmt: skip

# (taxonomy, concept) in priority order, per raw.fundamentals money column
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "revenue": (
        ("us-gaap", "Revenues"),
        ("us-gaap", "RevenueFromContractWithCustomerExcludingAssessedTax"),
        ("us-gaap", "SalesRevenueNet"),
        ("ifrs-full", "Revenue"),
        ("ifrs-full", "RevenueFromContractsWithCustomers"),
    ),
    "operating_income": (
        ("us-gaap", "OperatingIncomeLoss"),
        ("ifrs-full", "ProfitLossFromOperatingActivities"),
    ),
    "net_income": (
        ("us-gaap", "NetIncomeLoss"),
        ("ifrs-full", "ProfitLossAttributableToOwnersOfParent"),
        ("ifrs-full", "ProfitLoss"),
    ),
    "rd_expense": (
        ("us-gaap", "ResearchAndDevelopmentExpense"),
        ("us-gaap", "ResearchAndDevelopmentExpenseExcludingAcquiredInProcessCost"),
        ("ifrs-full", "ResearchAndDevelopmentExpense"),
    ),
    "capex": (
        ("us-gaap", "PaymentsToAcquirePropertyPlantAndEquipment"),
        ("us-gaap", "PaymentsToAcquireProductiveAssets"),
        ("ifrs-full", "PurchaseOfPropertyPlantAndEquipmentClassifiedAsInvestingActivities"),
        ("ifrs-full", "PurchaseOfPropertyPlantAndEquipment"),
    ),
}
POSITIVE_FIELDS = frozenset({"capex"})  # an amount spent, whatever sign the filer tagged
# (taxonomy, concept, kind): "instant" = a count on a date; "average" = over a duration, never differenced
SHARES: tuple[tuple[str, str, str], ...] = (
    ("us-gaap", "CommonStockSharesOutstanding", "instant"),
    ("ifrs-full", "NumberOfSharesOutstanding", "instant"),
    ("dei", "EntityCommonStockSharesOutstanding", "instant"),
    ("us-gaap", "WeightedAverageNumberOfDilutedSharesOutstanding", "average"),
    ("ifrs-full", "AdjustedWeightedAverageShares", "average"),
)
SHARES_UNIT = "shares"

# days from start to end -> months covered
DURATION_MONTHS: tuple[tuple[int, int, int], ...] = ((80, 100, 3), (170, 200, 6), (260, 290, 9), (350, 380, 12))
QUARTER_GAP_DAYS = (80, 100)  # between the ends of two cumulative facts one quarter apart
DAYS_PER_QUARTER = 365.25 / 4
FISCAL_PERIODS = {"Q1": 1, "Q2": 2, "Q3": 3, "Q4": 4, "FY": 4}
_CURRENCY_UNIT = re.compile(r"^[A-Z]{3}$")
_CIK_AT_START = re.compile(rb'^\s*\{\s*"cik"\s*:\s*"?(\d{1,10})')

Timeline = tuple[tuple[date, float], ...]  # (report date, value) versions, each different from the one before


@dataclass(frozen=True)
class Fact:
    concept: str  # "taxonomy:Name"
    unit: str
    start: date | None
    end: date
    value: float
    accn: str
    fy: int | None
    fp: str | None
    form: str
    filed: date

    @property
    def months(self) -> int | None:
        """3, 6, 9 or 12 for a duration of that length, None for an instant or another length."""
        if self.start is None:
            return None
        days = (self.end - self.start).days
        return next((months for low, high, months in DURATION_MONTHS if low <= days <= high), None)


@dataclass(frozen=True)
class Period:
    end: date
    months: int  # 3 or 12


def parse_companyfacts(
    body: bytes, *, ticker: str, source: str = SOURCE, as_of: date | None = None, with_accessions: bool = False
) -> pd.DataFrame:
    """Fundamentals of one company (``FUNDAMENTAL_COLUMNS`` + ``period_months``), one row per period and version,
    from the facts filed by ``as_of`` (all when None); ``with_accessions`` adds ``accession_number``."""
    document = _load(body, ticker=ticker)
    key = _key(document.get("cik"), body, ticker=ticker)
    facts_root = document.get("facts")
    if not isinstance(facts_root, Mapping):
        raise SourceError(
            f"SEC companyfacts for {key} ({ticker}) has no 'facts' object (found keys {sorted(document)}); "
            "is it a companyfacts response? Check the landed file.",
            source=SOURCE,
            key=key,
        )
    money = {
        field: _read(facts_root, concepts, key=key, positive=field in POSITIVE_FIELDS, as_of=as_of)
        for field, concepts in FIELDS.items()
    }
    currency = _currency(fact for facts in money.values() for fact in facts)
    if currency is None:
        return _frame([], with_accessions=with_accessions)
    money = {field: [f for f in facts if f.unit == currency] for field, facts in money.items()}
    shares = {
        (taxonomy, concept, kind): [
            f for f in _read(facts_root, ((taxonomy, concept),), key=key, as_of=as_of) if f.unit == SHARES_UNIT
        ]
        for taxonomy, concept, kind in SHARES
    }
    everything = [f for facts in money.values() for f in facts] + [f for facts in shares.values() for f in facts]
    report_ends = _report_ends(everything)
    calendar = FiscalCalendar.from_filings(everything, report_ends)

    flows = {field: _by_concept(facts, FIELDS[field]) for field, facts in money.items()}
    rows = []
    for period in _periods(flows):
        timelines = {field: _field_timeline(by_concept, period) for field, by_concept in flows.items()}
        timelines["shares_outstanding"] = _shares_timeline(shares, period, report_ends)
        fiscal_year, fiscal_quarter = calendar.fiscal(period)
        filed_by_day = _accessions_by_day(period, flows, shares, report_ends)
        for report_date, values in _versions_of_row(timelines):
            accessions = {"accession_number": ",".join(filed_by_day.get(report_date, []))} if with_accessions else {}
            rows.append(
                {
                    "ticker": ticker,
                    "fiscal_period_end": period.end,
                    "fiscal_year": fiscal_year,
                    "fiscal_quarter": fiscal_quarter,
                    "report_date": report_date,
                    "currency": currency,
                    **values,
                    "source": source,
                    "period_months": period.months,
                    **accessions,
                }
            )
    return _frame(rows, with_accessions=with_accessions)


# --- reading the payload ---------------------------------------------------------------------------


def _load(body: bytes, *, ticker: str) -> Mapping[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError; absurdly deep nesting
        key = _key(None, body, ticker=ticker)
        raise SourceError(
            f"SEC companyfacts for {key} ({ticker}) is not JSON ({exc}); it starts with {bytes(body[:80])!r}. "
            "An HTML page usually means SEC refused the client (User-Agent, rate limit); a cut-off body, "
            "an interrupted download: re-fetch it.",
            source=SOURCE,
            key=key,
        ) from None
    if not isinstance(document, Mapping):
        key = _key(None, body, ticker=ticker)
        raise SourceError(
            f"SEC companyfacts for {key} ({ticker}) is a JSON {type(document).__name__}, not an object with "
            "'cik', 'entityName' and 'facts'. Check the landed file.",
            source=SOURCE,
            key=key,
        )
    return document


def _key(cik: Any, body: bytes, *, ticker: str) -> str:
    """``CIK##########`` from the document, or from the start of an unreadable body, else the ticker."""
    if cik is None:
        match = _CIK_AT_START.match(bytes(body[:200]))
        cik = match.group(1).decode() if match else None
    try:
        return f"CIK{int(cik):010d}" if cik is not None else ticker
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite cik
        return ticker


def _read(
    facts_root: Mapping[str, Any],
    concepts: Iterable[tuple[str, str]],
    *,
    key: str,
    positive: bool = False,
    as_of: date | None = None,
) -> list[Fact]:
    """Every fact of the given concepts filed by ``as_of``, in every unit; unreadable facts raise SourceError."""
    out: list[Fact] = []
    for taxonomy, name in concepts:
        concept = f"{taxonomy}:{name}"
        taxonomy_facts = facts_root.get(taxonomy)
        entry = taxonomy_facts.get(name) if isinstance(taxonomy_facts, Mapping) else None
        if entry is None:
            continue
        units = entry.get("units") if isinstance(entry, Mapping) else None
        if not isinstance(units, Mapping):
            raise SourceError(
                f"SEC companyfacts for {key}: {concept} has no 'units' object ({_short(entry)}).",
                source=SOURCE,
                key=key,
            )
        for unit, items in units.items():
            if not isinstance(items, list):
                raise SourceError(
                    f"SEC companyfacts for {key}: {concept} unit {unit!r} is not a list of facts ({_short(items)}).",
                    source=SOURCE,
                    key=key,
                )
            for item in items:
                fact = _fact(item, concept=concept, unit=str(unit), key=key)
                if fact.filed < fact.end or (fact.start is not None and fact.filed == fact.end):
                    continue  # filed before its own period ended: a tagging error
                if as_of is not None and fact.filed > as_of:
                    continue  # not yet known as of that day
                out.append(replace(fact, value=abs(fact.value)) if positive else fact)
    return out


def _fact(item: Any, *, concept: str, unit: str, key: str) -> Fact:
    try:
        if not isinstance(item, Mapping):
            raise TypeError("not an object")
        value = item["val"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"val {value!r} is not a number")
        if not math.isfinite(value):  # NaN or Infinity: would pass the suite's lower bounds and load
            raise ValueError(f"val {value!r} is not a finite number")
        fy = item.get("fy")
        return Fact(
            concept=concept,
            unit=unit,
            start=date.fromisoformat(item["start"]) if item.get("start") else None,
            end=date.fromisoformat(item["end"]),
            value=float(value),
            accn=str(item.get("accn") or ""),
            fy=int(fy) if isinstance(fy, int | str) and str(fy).isdigit() and len(str(fy)) <= 4 else None,
            fp=str(item["fp"]).upper() if item.get("fp") else None,
            form=str(item.get("form") or ""),
            filed=date.fromisoformat(item["filed"]),
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: a val beyond any float
        raise SourceError(
            f"SEC companyfacts for {key}: unreadable {concept} fact in {unit} ({type(exc).__name__}: {exc}): "
            f"{_short(item)}. Expected ISO 'end' and 'filed' dates and a numeric 'val'.",
            source=SOURCE,
            key=key,
        ) from None


def _currency(facts: Iterable[Fact]) -> str | None:
    """The currency unit with the most money facts; ties go to the one filed last."""
    counts: Counter[str] = Counter()
    last_filed: dict[str, date] = {}
    for fact in facts:
        if _CURRENCY_UNIT.match(fact.unit):
            counts[fact.unit] += 1
            last_filed[fact.unit] = max(fact.filed, last_filed.get(fact.unit, date.min))
    if not counts:
        return None
    return max(counts, key=lambda unit: (counts[unit], last_filed[unit], unit))


def _report_ends(facts: Iterable[Fact]) -> dict[str, date]:
    """Per filing (accession number): the end of the period it reports, the latest end of its durations."""
    ends: dict[str, date] = {}
    for fact in facts:
        if fact.start is not None and fact.accn:
            ends[fact.accn] = max(fact.end, ends.get(fact.accn, date.min))
    return ends


# --- fiscal calendar -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FiscalCalendar:
    """Fiscal (year, quarter) of period ends, anchored on the ``fy``/``fp`` of the filings reporting them."""

    anchors: dict[date, tuple[int, int]]

    @classmethod
    def from_filings(cls, facts: Iterable[Fact], report_ends: Mapping[str, date]) -> FiscalCalendar:
        first: dict[date, tuple[date, int, int]] = {}  # period end -> (filed, fy, quarter) of the first filing
        for fact in facts:
            end = report_ends.get(fact.accn)
            quarter = FISCAL_PERIODS.get(fact.fp or "")
            if end is None or fact.fy is None or quarter is None:
                continue
            if end not in first or fact.filed < first[end][0]:
                first[end] = (fact.filed, fact.fy, quarter)
        return cls({end: (fy, quarter) for end, (_, fy, quarter) in first.items()})

    def fiscal(self, period: Period) -> tuple[int, int]:
        year, quarter = self._quarter_of(period.end)
        return (year, 4) if period.months == 12 else (year, quarter)

    def _quarter_of(self, end: date) -> tuple[int, int]:
        if end in self.anchors:
            return self.anchors[end]
        if not self.anchors:
            return end.year, (end.month - 1) // 3 + 1
        anchor = min(self.anchors, key=lambda day: (abs((day - end).days), day))
        year, quarter = self.anchors[anchor]
        index = year * 4 + (quarter - 1) + round((end - anchor).days / DAYS_PER_QUARTER)
        return index // 4, index % 4 + 1


# --- periods and timelines -------------------------------------------------------------------------


def _by_concept(facts: Iterable[Fact], priority: Iterable[tuple[str, str]]) -> dict[str, list[Fact]]:
    """Duration facts of 3, 6, 9 or 12 months per concept, concepts in priority order."""
    grouped: dict[str, list[Fact]] = {f"{taxonomy}:{name}": [] for taxonomy, name in priority}
    for fact in facts:
        if fact.months is not None:
            grouped[fact.concept].append(fact)
    return {concept: listed for concept, listed in grouped.items() if listed}


def _periods(flows: Mapping[str, Mapping[str, list[Fact]]]) -> list[Period]:
    """Candidate periods: quarters ending where any flow fact ends, fiscal years where a 12-month fact ends."""
    periods: set[Period] = set()
    for by_concept in flows.values():
        for facts in by_concept.values():
            for fact in facts:
                periods.add(Period(fact.end, 3))
                if fact.months == 12:
                    periods.add(Period(fact.end, 12))
    return sorted(periods, key=lambda p: (p.end, p.months))


def _field_timeline(by_concept: Mapping[str, list[Fact]], period: Period) -> Timeline:
    """Versions of one money column for one period, concepts in priority order (dict order)."""
    return _combine([_concept_timeline(facts, period) for facts in by_concept.values()], _first_known)


def _concept_timeline(facts: Sequence[Fact], period: Period) -> Timeline:
    direct = _versions([f for f in facts if f.end == period.end and f.months == period.months])
    if period.months != 3:
        return direct
    derived = []
    cumulative = [f for f in facts if f.end == period.end and f.months in (6, 9, 12)]
    for start in sorted({f.start for f in cumulative if f.start is not None}):
        later = [f for f in cumulative if f.start == start]
        months = later[0].months or 0
        earlier = [
            f
            for f in facts
            if f.start == start
            and f.months == months - 3
            and QUARTER_GAP_DAYS[0] <= (period.end - f.end).days <= QUARTER_GAP_DAYS[1]
        ]
        if earlier:
            derived.append(_combine([_versions(later), _versions(earlier)], _difference))
    return _combine([direct, *derived], _first_known)


def _shares_timeline(
    shares: Mapping[tuple[str, str, str], list[Fact]], period: Period, report_ends: Mapping[str, date]
) -> Timeline:
    timelines = []
    for (_, _, kind), facts in shares.items():
        if kind == "average":
            timelines.append(_versions([f for f in facts if f.end == period.end and f.months == period.months]))
        else:
            timelines.append(
                _versions(
                    [
                        f
                        for f in facts
                        if f.start is None
                        and (f.end == period.end or (f.end > period.end and report_ends.get(f.accn) == period.end))
                    ]
                )
            )
    return _combine(timelines, _first_known)


def _versions(facts: Iterable[Fact]) -> Timeline:
    """First filed date of each distinct value, in filing order (the last accession wins within a day)."""
    by_day: dict[date, float] = {}
    for fact in sorted(facts, key=lambda f: (f.filed, f.accn)):
        by_day[fact.filed] = fact.value
    out: list[tuple[date, float]] = []
    for day in sorted(by_day):
        if not out or out[-1][1] != by_day[day]:
            out.append((day, by_day[day]))
    return tuple(out)


def _value_at(timeline: Timeline, day: date) -> float | None:
    value = None
    for version_day, version_value in timeline:
        if version_day > day:
            break
        value = version_value
    return value


def _combine(timelines: Sequence[Timeline], pick: Callable[[list[float | None]], float | None]) -> Timeline:
    """A timeline whose value on each report date is ``pick`` of the inputs' values known then."""
    out: list[tuple[date, float]] = []
    for day in sorted({day for timeline in timelines for day, _ in timeline}):
        value = pick([_value_at(timeline, day) for timeline in timelines])
        if value is not None and (not out or out[-1][1] != value):
            out.append((day, value))
    return tuple(out)


def _first_known(values: list[float | None]) -> float | None:
    return next((value for value in values if value is not None), None)


def _difference(values: list[float | None]) -> float | None:
    later, earlier = values
    return None if later is None or earlier is None else later - earlier


def _versions_of_row(timelines: Mapping[str, Timeline]) -> list[tuple[date, dict[str, float | None]]]:
    """One (report date, column values) per date any column changed, from the first date a flow is known."""
    flow_days = [timeline[0][0] for field, timeline in timelines.items() if field in FIELDS and timeline]
    if not flow_days:
        return []
    first = min(flow_days)
    out: list[tuple[date, dict[str, float | None]]] = []
    for day in sorted({day for timeline in timelines.values() for day, _ in timeline}):
        if day < first:
            continue
        values = {field: _value_at(timeline, day) for field, timeline in timelines.items()}
        if not out or out[-1][1] != values:
            out.append((day, values))
    return out


# --- output ----------------------------------------------------------------------------------------


def _accessions_by_day(
    period: Period,
    flows: Mapping[str, Mapping[str, list[Fact]]],
    shares: Mapping[tuple[str, str, str], list[Fact]],
    report_ends: Mapping[str, date],
) -> dict[date, list[str]]:
    """Per filing date, the accession numbers of the filings that reported a fact of ``period`` that day."""
    facts = [f for by_concept in flows.values() for listed in by_concept.values() for f in listed]
    facts += [f for listed in shares.values() for f in listed]
    out: dict[date, set[str]] = {}
    for fact in facts:
        if fact.accn and (fact.end == period.end or report_ends.get(fact.accn) == period.end):
            out.setdefault(fact.filed, set()).add(fact.accn)
    return {day: sorted(accessions) for day, accessions in out.items()}


def _frame(rows: list[dict[str, Any]], *, with_accessions: bool = False) -> pd.DataFrame:
    columns = [*OUTPUT_COLUMNS, "accession_number"] if with_accessions else OUTPUT_COLUMNS
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.astype({column: OUTPUT_DTYPES.get(column, "str") for column in columns})
    return frame.sort_values(["fiscal_period_end", "period_months", "report_date"]).reset_index(drop=True)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
