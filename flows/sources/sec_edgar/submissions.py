"""Turn a landed SEC ``submissions`` body into filing-index rows (``SUBMISSION_COLUMNS``).

The wire format
---------------
``GET /submissions/CIK##########.json``, the main document (compact JSON; shown indented)::

    {"cik": "1045810", "entityType": "operating", "name": "NVIDIA CORP", "tickers": ["NVDA"], ...,
     "filings": {
       "recent": {"accessionNumber": ["0001045810-24-000316", ...], "filingDate": ["2024-11-20", ...],
                  "reportDate": ["2024-10-27", ...], "acceptanceDateTime": ["2024-11-20T16:36:57.000Z", ...],
                  "act": ["34", ...], "form": ["10-Q", ...], "fileNumber": ["000-23985", ...],
                  "filmNumber": ["241482587", ...], "items": ["", ...], "size": [4612771, ...],
                  "isXBRL": [1, ...], "isInlineXBRL": [1, ...], "primaryDocument": ["nvda-20241027.htm", ...],
                  "primaryDocDescription": ["10-Q", ...]},
       "files": [{"name": "CIK0001045810-submissions-001.json", "filingCount": 14,
                  "filingFrom": "2023-02-22", "filingTo": "2024-02-13"}, ...]}}

``filings.recent`` is columnar: one array per field, element *i* of every array
describing filing *i*, newest first. It holds at least a year of filings or
1,000 of them, whichever is more; older filings are on the pages listed in
``filings.files``, and ``GET /submissions/<name>`` returns each page as the
bare columnar object (the shape of ``recent``, at the top level, no ``cik``).
Missing values are empty strings: ``reportDate`` of a filing without a period,
``items`` of anything but an 8-K, ``filmNumber`` of a Form 4. ``items`` lists
8-K item numbers, comma-separated (``"2.02,9.01"``: results of operations,
with the press release as an exhibit).

``acceptanceDateTime`` is Eastern time labelled ``Z``
------------------------------------------------------
It looks like UTC (``2022-10-24T06:08:50.000Z``) but is the New York
wall-clock time (EST or EDT) at which EDGAR accepted the filing, with a ``Z``
appended. What shows it:

- EDGAR accepts filings from 06:00 to 22:00 Eastern on business days (EDGAR
  Filer Manual, Volume II, "filing hours"; restated e.g. at
  https://www.newsfilecorp.com/filing/edgar/hours_deadlines.php and
  https://helpcenter.rdgclientportal.com/?p=3125). In a recorded real
  submissions document -- Tesla, CIK 1318605, ~1,000 filings from 2013 to
  2022, kept as ``data/company_submission.json`` in the public repository
  github.com/dgunning/edgartools -- every ``acceptanceDateTime`` falls between
  06:00 and 21:59: the Eastern window, read as is. Read as UTC, that window is
  10:00-02:00 (EDT) or 11:00-03:00 (EST); yet the document has values at
  06:xx-09:xx and none between 22:00 and 05:59. Tesla's 10-Q for Q3 2022
  (0000950170-22-019867, filingDate 2022-10-24) says ``2022-10-24T06:08:50.000Z``:
  taken as UTC that is 02:08 in New York, four hours before EDGAR opens.
- The same clock is the ``<ACCEPTANCE-DATETIME>`` line of a filing's SGML
  header (``20200807214600``), which is described as East-coast time
  (http://www.regressionist.com/2020/08/09/edgar-timestamps/).

So the parser reads the date and time as America/New_York (zoneinfo: EST or
EDT as the date requires) and converts them to naive UTC:
``2024-11-20T16:36:57.000Z`` (EST, UTC-5) -> 2024-11-20 21:36:57;
``2024-08-28T16:37:49.000Z`` (EDT, UTC-4) -> 2024-08-28 20:37:49. A value with
an explicit numeric offset (``...-05:00``), should SEC ever send one, is
honoured as written. ``filingDate`` is not derived from it: a filing accepted
after 17:30 Eastern gets the next business day's filing date (forms 3/4/5
excepted), and the parser keeps SEC's ``filingDate``.

Rules
-----
- Either the main document (rows from ``filings.recent``) or an older page
  (rows from the top-level arrays) is accepted.
- Only filings whose ``form`` is in ``forms`` become rows (default
  ``PERIODIC_FORMS``: 10-Q, 10-K, 20-F, 40-F, 6-K, 8-K and their ``/A``
  amendments -- the filings that carry results; not Form 4, proxies, S-8...).
- Empty strings become None (``items``, ``report_date``, ``primary_document``).
- An accession number repeated within one body gives one row (the first, i.e.
  the newest listing). Rows are sorted by ``accepted_at``, ``accession_number``.
- A :class:`~flows.sources.http.SourceError` (source ``sec_edgar``, key
  ``CIK##########``) names the CIK and what is wrong: a body that is not JSON
  (SEC's 403 "Undeclared Automated Tool" HTML page, its 404 ``NoSuchKey`` XML),
  an error envelope, a document without ``filings``/``filings.recent`` or
  holding another CIK, a ``filings.files`` entry without a page name of this
  CIK, arrays of unequal length, or an unreadable value in a row that is kept
  (accession number, form, dates, acceptance time). Rows the forms filter
  drops are checked for a readable ``form`` only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from flows.availability import public_by
from flows.sources.http import SourceError
from flows.sources.sec_edgar.client import SUBMISSIONS_PAGE_NAME, normalize_cik

SOURCE = "sec_edgar"
SUBMISSION_COLUMNS = [
    "ticker", "cik", "accession_number", "form", "items", "filing_date", "accepted_at",
    "report_date", "primary_document", "source",
]  # fmt: skip
# accepted_at: naive UTC, microseconds (pandas' own unit for datetimes; DuckDB reads it as TIMESTAMP)
SUBMISSION_DTYPES: dict[str, str] = {
    "ticker": "str", "cik": "str", "accession_number": "str", "form": "str", "items": "object",
    "filing_date": "object", "accepted_at": "datetime64[us]", "report_date": "object",
    "primary_document": "object", "source": "str",
}  # fmt: skip
PERIODIC_FORMS = frozenset(
    form + amendment for form in ("10-Q", "10-K", "20-F", "40-F", "6-K", "8-K") for amendment in ("", "/A")
)
EDGAR_TIME_ZONE = ZoneInfo("America/New_York")  # the clock of acceptanceDateTime, whatever its "Z" says
ACCEPTED_RANGE = (datetime(1980, 1, 1), datetime(2200, 1, 1))  # plausible acceptance times (EDGAR began in 1993)

REQUIRED_ARRAYS = ("accessionNumber", "filingDate", "acceptanceDateTime", "form")
OPTIONAL_ARRAYS = ("reportDate", "items", "primaryDocument")
_ACCESSION = re.compile(r"\d{10}-\d{2}-\d{6}", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_ACCEPTANCE = re.compile(
    r"(?P<day>\d{4}-\d{2}-\d{2})[T ](?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})"
    r"(?:\.(?P<fraction>\d{1,9}))?(?P<zone>Z|[+-]\d{2}:\d{2})?",
    re.ASCII,
)
_ENVELOPE_KEYS = frozenset({"error", "errors", "message", "code", "status"})


def parse_submissions(body: bytes, *, ticker: str, cik: str, forms: frozenset[str] = PERIODIC_FORMS) -> pd.DataFrame:
    """Filings of ``forms`` in one submissions body (main document or older page), ``SUBMISSION_COLUMNS``."""
    padded = normalize_cik(cik)
    where = f"SEC submissions for CIK{padded} ({ticker})"
    document = _load(body, where=where, cik=padded)
    arrays, context = _arrays(document, where=where, cik=padded)
    rows = _rows(arrays, context=context, where=where, cik=padded, ticker=ticker, forms=forms)
    return submission_frame(rows)


def known_by(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The filings public by the end of ``as_of`` in New York: filed by then and accepted before the cut-off
    (``flows.availability.public_cutoff``)."""
    if frame.empty:
        return frame
    filed = pd.to_datetime(frame["filing_date"]) <= pd.Timestamp(as_of)
    return frame[filed & public_by(frame["accepted_at"], as_of)].reset_index(drop=True)


def submission_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows (dicts with ``SUBMISSION_COLUMNS``) as a typed frame sorted by ``accepted_at``, ``accession_number``."""
    frame = pd.DataFrame(list(rows), columns=SUBMISSION_COLUMNS, dtype=object).astype(SUBMISSION_DTYPES)
    return frame.sort_values(["accepted_at", "accession_number"], kind="stable").reset_index(drop=True)


# --- the document ----------------------------------------------------------------------------------


def _error(message: str, *, cik: str) -> SourceError:
    return SourceError(message, source=SOURCE, key=f"CIK{cik}")


def _load(body: bytes, *, where: str, cik: str) -> Mapping[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError; absurdly deep nesting
        raise _error(
            f"{where} is not JSON ({type(exc).__name__}: {exc}); it starts with {bytes(body[:80])!r}. "
            "An HTML page usually means SEC refused the client (User-Agent, rate limit); XML with NoSuchKey, "
            "a CIK or page SEC does not have; a cut-off body, an interrupted download: re-fetch it.",
            cik=cik,
        ) from None
    if not isinstance(document, Mapping):
        raise _error(
            f"{where} is a JSON {type(document).__name__}, not an object: neither a submissions document "
            "(with 'filings') nor an older page (with arrays such as 'accessionNumber'). Check the landed file.",
            cik=cik,
        )
    return document


def _arrays(document: Mapping[str, Any], *, where: str, cik: str) -> tuple[Mapping[str, Any], str]:
    """The columnar object holding the filings, and what to call it in messages."""
    if "filings" in document:
        _check_cik(document.get("cik"), where=where, cik=cik)
        filings = document["filings"]
        recent = filings.get("recent") if isinstance(filings, Mapping) else None
        if not isinstance(recent, Mapping):
            raise _error(
                f"{where} has no 'filings.recent' object (filings is {_short(filings)}); "
                "is it a submissions response? Check the landed file or re-fetch it.",
                cik=cik,
            )
        _check_files(filings.get("files", []), where=where, cik=cik)
        return recent, "filings.recent"
    if any(name in document for name in REQUIRED_ARRAYS):
        return document, "the page"
    if _ENVELOPE_KEYS & {str(key).lower() for key in document}:
        raise _error(
            f"{where} is an error envelope, not filings: {_short(document)}. "
            f"Re-fetch CIK{cik}; if it persists, check the CIK at "
            "https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany and the universe file.",
            cik=cik,
        )
    raise _error(
        f"{where} has no 'filings' object (a submissions document) and no filing arrays such as "
        f"'accessionNumber' (an older page); found keys {sorted(map(str, document))[:20]}. "
        "Is it a submissions response? Check the landed file.",
        cik=cik,
    )


def _check_cik(value: Any, *, where: str, cik: str) -> None:
    if value is None:
        return
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        raise _error(f"{where} has an unreadable 'cik' ({_short(value)}). Check the landed file.", cik=cik)
    if text.zfill(10) != cik:
        raise _error(
            f"{where} holds the filings of CIK{text.zfill(10)}, not CIK{cik}: the body was landed under the "
            "wrong key, or the universe file has the wrong CIK. Re-fetch it and check the universe file.",
            cik=cik,
        )


def _check_files(files: Any, *, where: str, cik: str) -> None:
    """Every ``filings.files`` entry names a page of this CIK (the client fetches pages by that name)."""
    if not isinstance(files, list):
        raise _error(f"{where}: 'filings.files' is not a list ({_short(files)}). Check the landed file.", cik=cik)
    for number, entry in enumerate(files):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        match = SUBMISSIONS_PAGE_NAME.fullmatch(name) if isinstance(name, str) else None
        if match is None or match.group(1) != cik:
            raise _error(
                f"{where}: filings.files entry {number} ({_short(entry)}) does not name a page of this "
                f"company ('CIK{cik}-submissions-NNN.json'), so its older filings cannot be fetched. "
                "Check the landed file or re-fetch it.",
                cik=cik,
            )


# --- the rows --------------------------------------------------------------------------------------


def _rows(
    arrays: Mapping[str, Any], *, context: str, where: str, cik: str, ticker: str, forms: frozenset[str]
) -> list[dict[str, Any]]:
    columns = _columns(arrays, context=context, where=where, cik=cik)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index in range(len(columns["form"])):
        form = columns["form"][index]
        if not isinstance(form, str) or not form.strip():
            raise _error(
                f"{where}: filing {index} in {context} has form {_short(form)}; expected a form type such as "
                "'10-Q'. Check the landed file or re-fetch it.",
                cik=cik,
            )
        if form not in forms:
            continue
        accession = columns["accessionNumber"][index]
        if not isinstance(accession, str) or not _ACCESSION.fullmatch(accession):
            raise _error(
                f"{where}: a {form} in {context} (filing {index}) has accession number {_short(accession)}; "
                "expected ten, two and six digits, e.g. '0001045810-24-000316'. Check the landed file.",
                cik=cik,
            )
        if accession in seen:
            continue
        seen.add(accession)

        cell = {field: column[index] for field, column in columns.items()}  # absent optional arrays: None
        filing = f"{where}: {form} {accession}"
        rows.append(
            {
                "ticker": ticker,
                "cik": cik,
                "accession_number": accession,
                "form": form,
                "items": _text(cell.get("items"), field="items", filing=filing, cik=cik),
                "filing_date": _date(cell["filingDate"], field="filingDate", filing=filing, cik=cik, required=True),
                "accepted_at": _accepted_at(cell["acceptanceDateTime"], filing=filing, cik=cik),
                "report_date": _date(cell.get("reportDate"), field="reportDate", filing=filing, cik=cik),
                "primary_document": _text(cell.get("primaryDocument"), field="primaryDocument", filing=filing, cik=cik),
                "source": SOURCE,
            }
        )
    return rows


def _columns(arrays: Mapping[str, Any], *, context: str, where: str, cik: str) -> dict[str, Sequence[Any]]:
    """The arrays the rows read, all lists of one length (every other list in the object too)."""
    for field in (*REQUIRED_ARRAYS, *OPTIONAL_ARRAYS):
        if field in REQUIRED_ARRAYS and field not in arrays:
            raise _error(f"{where}: {context} has no '{field}' array. Check the landed file or re-fetch it.", cik=cik)
        if field in arrays and not isinstance(arrays[field], list):
            raise _error(
                f"{where}: '{field}' of {context} is not an array ({_short(arrays[field])}). "
                "Check the landed file or re-fetch it.",
                cik=cik,
            )
    lengths = {str(field): len(values) for field, values in arrays.items() if isinstance(values, list)}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{field} {length}" for field, length in lengths.items())
        raise _error(
            f"{where}: the arrays of {context} have unequal lengths ({listed}), so filings cannot be lined up. "
            "A truncated or corrupted body: re-fetch it.",
            cik=cik,
        )
    return {field: arrays[field] for field in (*REQUIRED_ARRAYS, *OPTIONAL_ARRAYS) if field in arrays}


def _text(value: Any, *, field: str, filing: str, cik: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _error(f"{filing} has {field} {_short(value)}; expected a string. Check the landed file.", cik=cik)
    return value


def _date(value: Any, *, field: str, filing: str, cik: str, required: bool = False) -> date | None:
    if (value is None or value == "") and not required:
        return None
    try:
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise _error(
            f"{filing} has {field} {_short(value)}; expected a date like '2024-11-20'"
            f"{'' if required else ' or an empty string'}. Check the landed file or re-fetch it.",
            cik=cik,
        ) from None


def _accepted_at(value: Any, *, filing: str, cik: str) -> datetime:
    """acceptanceDateTime as naive UTC: the wall-clock part is New York time unless an offset says otherwise."""
    match = _ACCEPTANCE.fullmatch(value) if isinstance(value, str) else None
    try:
        if match is None:
            raise ValueError("not a date and time")
        fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
        clock = time(int(match["hour"]), int(match["minute"]), int(match["second"]), int(fraction))
        local = datetime.combine(date.fromisoformat(match["day"]), clock)
        if not ACCEPTED_RANGE[0] <= local < ACCEPTED_RANGE[1]:
            raise ValueError(f"outside {ACCEPTED_RANGE[0].year}-{ACCEPTED_RANGE[1].year - 1}")
        zone = match["zone"]
        if zone is None or zone == "Z":  # SEC's "Z" labels New York time (see the module docstring)
            aware = local.replace(tzinfo=EDGAR_TIME_ZONE)
        else:
            sign = -1 if zone[0] == "-" else 1
            aware = local.replace(tzinfo=timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))))
        return aware.astimezone(UTC).replace(tzinfo=None)
    except ValueError as exc:  # also hour 24, Feb 30, an offset of a day or more
        raise _error(
            f"{filing} has acceptanceDateTime {_short(value)} ({exc}); expected e.g. '2024-11-20T16:36:57.000Z' "
            "(New York time, despite the Z). Check the landed file or re-fetch it.",
            cik=cik,
        ) from None


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
