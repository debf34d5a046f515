"""A loopback HTTP server that answers like Yahoo Finance, SEC EDGAR, BLS and the Federal Register.

The end-to-end live tests point ``GAPWATCH_*_BASE_URL`` at it, so the real
connectors, landing, validation, load and dbt build run against responses in
each source's wire format. The numbers inside come from the sample generator
(prices, FX, fundamentals: synthetic) and from the ``cpi`` package (CPI:
real); they are rendered the way each API serves them: Yahoo's chart JSON
with UTC session-open timestamps, split-adjusted quotes and ``events``; SEC
companyfacts with 10-Q/10-K facts, year-to-date capex and facts repeated
across filings; SEC submissions listing the sample filings
(``generate_filings``: on the report dates companyfacts serves, 10-Q/10-K and
8-K for the US filers, 6-K/20-F for the ADRs -- whose companyfacts still says
10-Q/10-K), acceptance times in New York time labelled ``Z`` as SEC sends
them, filings more than a year older than the latest on an older page listed
in ``filings.files``; BLS v2 JSON with string values and "-" for October 2025;
Federal Register pages linked by ``next_page_url``.

The world is that of the server's as-of date, and it holds what a point-in-time
backfill must not see early (``PointInTime``): a restatement (a 10-Q/A
re-filing a quarter's revenue weeks after the quarter was first reported), a
late reporter (a quarter filed 110 days after its end), a missing quarter (a
fiscal year whose 10-K was never filed), a Federal Register rule published in
August 2026, and the CPI months the ``cpi`` package holds (released later than
a past as-of date). The connectors get everything the real APIs would give
today; the pipeline must keep only what was public by its own as-of date.

Only 127.0.0.1 is used; the server stops when the context exits.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse
from zoneinfo import ZoneInfo

import pandas as pd

from flows.settings import Security, Settings
from flows.sources.cpi_package.reader import read_cpi
from flows.sources.sample.filings import generate_filings, report_accession
from flows.sources.sample.generator import PriceWindow, generate_fundamentals, generate_fx, generate_prices
from flows.sources.sec_edgar.client import normalize_cik
from flows.sources.sec_edgar.submissions import submission_frame

SEC_NEW_YORK = ZoneInfo("America/New_York")  # the clock of SEC's acceptanceDateTime, despite its "Z"
SUBMISSIONS_RECENT_DAYS = 365  # SEC keeps at least a year of filings in filings.recent
SUBMISSIONS_NAME = re.compile(r"CIK(\d{10})(-submissions-\d{3})?\.json", re.ASCII)
SESSION_OPEN = {"America/New_York": time(9, 30), "Asia/Hong_Kong": time(9, 30), "Europe/London": time(0, 0)}
DELISTED = "DELIST"


def _epoch(day: date, zone: str) -> int:
    local = datetime.combine(day, SESSION_OPEN.get(zone, time(0, 0)), tzinfo=ZoneInfo(zone))
    return int(local.timestamp())


def yahoo_chart(symbol: str, bars: pd.DataFrame, *, currency: str, zone: str) -> dict:
    """Render bars (as traded, with dividend and split_ratio columns) as a Yahoo v8 chart response."""
    bars = bars.sort_values("trade_date").reset_index(drop=True)
    ratios = bars["split_ratio"].to_numpy() if "split_ratio" in bars else [1.0] * len(bars)
    # Yahoo's quote arrays are split-adjusted: divide by the splits that come later in the range.
    later = [1.0] * len(bars)
    running = 1.0
    for index in range(len(bars) - 1, -1, -1):
        later[index] = running
        running *= float(ratios[index])
    stamps = [_epoch(day, zone) for day in bars["trade_date"]]

    def adjusted(column: str) -> list[float | None]:
        return [round(float(v) / f, 6) if pd.notna(v) else None for v, f in zip(bars[column], later, strict=True)]

    events: dict = {}
    if "dividend" in bars:
        # Yahoo split-adjusts dividend amounts too
        events["dividends"] = {
            str(ts): {"amount": round(float(amount) / factor, 6), "date": ts}
            for ts, amount, factor in zip(stamps, bars["dividend"], later, strict=True)
            if amount > 0
        }
        events["splits"] = {
            str(ts): {"date": ts, "numerator": float(ratio), "denominator": 1.0, "splitRatio": f"{ratio:g}:1"}
            for ts, ratio in zip(stamps, bars["split_ratio"], strict=True)
            if ratio != 1
        }
    quote = {name: adjusted(name) for name in ("open", "high", "low", "close")}
    # ... and volumes (shares before a split count as `factor` shares after it)
    quote["volume"] = (
        [int(v * f) for v, f in zip(bars["volume"], later, strict=True)] if "volume" in bars else [0] * len(bars)
    )
    return {
        "chart": {
            "result": [
                {
                    "meta": {
                        "currency": currency,
                        "symbol": symbol,
                        "exchangeName": "NMS",
                        "instrumentType": "EQUITY",
                        "gmtoffset": int(ZoneInfo(zone).utcoffset(datetime.now()).total_seconds()),
                        "timezone": "EST",
                        "exchangeTimezoneName": zone,
                        "dataGranularity": "1d",
                        "range": "",
                    },
                    "timestamp": stamps,
                    "events": events,
                    "indicators": {"quote": [quote], "adjclose": [{"adjclose": [float(v) for v in bars["adj_close"]]}]},
                }
            ],
            "error": None,
        }
    }


def yahoo_timeseries(symbol: str, statements: pd.DataFrame) -> dict:
    mapping = {
        "quarterlyTotalRevenue": "revenue",
        "quarterlyOperatingIncome": "operating_income",
        "quarterlyNetIncome": "net_income",
        "quarterlyResearchAndDevelopment": "rd_expense",
        "quarterlyCapitalExpenditure": "capex",
        "quarterlyOrdinarySharesNumber": "shares_outstanding",
    }
    results = []
    for yahoo_type, column in mapping.items():
        entries = []
        for row in statements.itertuples():
            value = getattr(row, column)
            if column == "capex":
                value = -value  # Yahoo reports capital expenditure as a cash outflow
            entries.append(
                {
                    "dataId": 20100,
                    "asOfDate": row.fiscal_period_end.isoformat(),
                    "periodType": "3M",
                    "currencyCode": row.currency,
                    "reportedValue": {"raw": float(value), "fmt": f"{value / 1e9:.2f}B"},
                }
            )
        stamps = [
            int(datetime.combine(r.fiscal_period_end, time(), tzinfo=UTC).timestamp()) for r in statements.itertuples()
        ]
        results.append({"meta": {"symbol": [symbol], "type": [yahoo_type]}, "timestamp": stamps, yahoo_type: entries})
    return {"timeseries": {"result": results, "error": None}}


def sec_companyfacts(cik: str, name: str, statements: pd.DataFrame, restatements: pd.DataFrame) -> dict:
    """10-Q/10-K style facts: quarterly income items, YTD capex, each fact repeated in the next filing."""

    def fact(start: date, end: date, value: float, row, form: str, fp: str) -> dict:  # type: ignore[no-untyped-def]
        # the accession number of the sample filing that carried it (the submissions index lists it)
        return {
            "start": start.isoformat(), "end": end.isoformat(), "val": int(value),
            "accn": report_accession(cik, row.report_date), "fy": int(row.fiscal_year),
            "fp": fp, "form": form, "filed": row.report_date.isoformat(),
        }  # fmt: skip

    concepts: dict[str, list[dict]] = {
        "Revenues": [], "OperatingIncomeLoss": [], "NetIncomeLoss": [],
        "ResearchAndDevelopmentExpense": [], "PaymentsToAcquirePropertyPlantAndEquipment": [],
    }  # fmt: skip
    shares: list[dict] = []
    ytd_capex = 0.0
    for row in statements.sort_values("fiscal_period_end").itertuples():
        end = row.fiscal_period_end
        start = (pd.Timestamp(end) - pd.offsets.QuarterEnd(1) + timedelta(days=1)).date()
        form, fp = ("10-K", "FY") if row.fiscal_quarter == 4 else ("10-Q", f"Q{row.fiscal_quarter}")
        for concept, column in (
            ("Revenues", "revenue"), ("OperatingIncomeLoss", "operating_income"),
            ("NetIncomeLoss", "net_income"), ("ResearchAndDevelopmentExpense", "rd_expense"),
        ):  # fmt: skip
            concepts[concept].append(fact(start, end, getattr(row, column), row, form, fp))
        year_start = date(end.year, 1, 1)
        ytd_capex = row.capex if row.fiscal_quarter == 1 else ytd_capex + row.capex
        concepts["PaymentsToAcquirePropertyPlantAndEquipment"].append(fact(year_start, end, ytd_capex, row, form, fp))
        shares.append(
            {k: v for k, v in fact(start, end, row.shares_outstanding, row, form, fp).items() if k != "start"}
        )
    for restated in restatements.itertuples():
        end = restated.fiscal_period_end
        start = (pd.Timestamp(end) - pd.offsets.QuarterEnd(1) + timedelta(days=1)).date()
        concepts["Revenues"].append(
            {"start": start.isoformat(), "end": end.isoformat(), "val": int(restated.revenue),
             "accn": restated.accession_number, "fy": int(restated.fiscal_year), "fp": f"Q{restated.fiscal_quarter}",
             "form": "10-Q/A", "filed": restated.filing_date.isoformat()}
        )  # fmt: skip
    return {
        "cik": int(cik),
        "entityName": name,
        "facts": {
            "dei": {
                "EntityCommonStockSharesOutstanding": {
                    "label": "Entity Common Stock, Shares Outstanding",
                    "units": {"shares": shares},
                }
            },
            "us-gaap": {c: {"label": c, "description": c, "units": {"USD": facts}} for c, facts in concepts.items()},
        },
    }


def _submission_arrays(filings: pd.DataFrame) -> dict:
    """Filings (``SUBMISSION_COLUMNS``) as SEC's columnar arrays, newest first."""
    rows = filings.sort_values(["accepted_at", "accession_number"], ascending=False)
    arrays: dict[str, list] = {key: [] for key in (
        "accessionNumber", "filingDate", "reportDate", "acceptanceDateTime", "act", "form", "fileNumber",
        "filmNumber", "items", "size", "isXBRL", "isInlineXBRL", "primaryDocument", "primaryDocDescription")}  # fmt: skip
    for row in rows.itertuples():
        accepted = pd.Timestamp(row.accepted_at).tz_localize(UTC).tz_convert(SEC_NEW_YORK)
        xbrl = 0 if row.form in ("6-K", "6-K/A") else 1
        checksum = zlib.crc32(row.accession_number.encode())
        values = (
            row.accession_number, row.filing_date.isoformat(),
            row.report_date.isoformat() if row.report_date else "", accepted.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "34", row.form, f"001-{int(row.cik) % 100_000:05d}", f"{row.filing_date.year % 100}{checksum % 10**7:07d}",
            row.items or "", 200_000 + checksum % 5_000_000, xbrl, xbrl, row.primary_document or "", row.form,
        )  # fmt: skip
        for key, value in zip(arrays, values, strict=True):
            arrays[key].append(value)
    return arrays


def sec_submissions(security: Security, filings: pd.DataFrame) -> tuple[dict, dict[str, dict]]:
    """The submissions document of one company and its older pages (file name -> bare columnar object)."""
    cik = str(security.cik)
    recent, pages = filings, {}
    if not filings.empty:
        cutoff = max(filings["filing_date"]) - timedelta(days=SUBMISSIONS_RECENT_DAYS)
        older = filings[filings["filing_date"] < cutoff]
        if not older.empty:
            recent = filings[filings["filing_date"] >= cutoff]
            pages[f"CIK{cik}-submissions-001.json"] = older
    document = {
        "cik": str(int(cik)), "entityType": "operating", "name": security.name.upper(), "tickers": [security.ticker],
        "exchanges": [{"XNAS": "Nasdaq", "XNYS": "NYSE"}.get(security.exchange, "")],
        "category": "Large accelerated filer", "fiscalYearEnd": "1231", "flags": "", "formerNames": [],
        "filings": {
            "recent": _submission_arrays(recent),
            "files": [
                {"name": page, "filingCount": len(rows), "filingFrom": min(rows["filing_date"]).isoformat(),
                 "filingTo": max(rows["filing_date"]).isoformat()}
                for page, rows in pages.items()
            ],
        },
    }  # fmt: skip
    return document, {page: _submission_arrays(rows) for page, rows in pages.items()}


def bls_timeseries(series: list[str], start_year: int, end_year: int) -> dict:
    observations = read_cpi(first_month=date(start_year, 1, 1), last_month=date(end_year, 12, 1), series=series)
    out = []
    for series_id in series:
        rows = observations[observations["series_id"] == series_id].sort_values("period_date", ascending=False)
        data = []
        if start_year <= 2025 <= end_year:
            data.append({"year": "2025", "period": "M10", "periodName": "October", "value": "-",
                         "footnotes": [{"code": "X", "text": "Data unavailable due to the 2025 lapse in appropriations."}]})  # fmt: skip
        for row in rows.itertuples():
            data.append(
                {"year": str(row.period_date.year), "period": f"M{row.period_date.month:02d}",
                 "periodName": row.period_date.strftime("%B"), "value": f"{row.value:.3f}", "footnotes": [{}]}
            )  # fmt: skip
        data.sort(key=lambda item: (item["year"], item["period"]), reverse=True)
        out.append({"seriesID": series_id, "data": data})
    return {"status": "REQUEST_SUCCEEDED", "responseTime": 42, "message": [], "Results": {"series": out}}


FEDREG_DOCUMENTS = [
    {"document_number": "2022-21658", "publication_date": "2022-10-13", "type": "Rule",
     "title": "Implementation of Additional Export Controls: Certain Advanced Computing and Semiconductor Manufacturing Items"},
    {"document_number": "2023-23055", "publication_date": "2023-10-25", "type": "Rule",
     "title": "Implementation of Additional Export Controls: Certain Advanced Computing Items; Supercomputer and Semiconductor End Use"},
    {"document_number": "2024-28270", "publication_date": "2024-12-05", "type": "Rule",
     "title": "Foreign-Produced Direct Product Rule Additions, and Refinements to Controls for Advanced Computing and Semiconductor Manufacturing Items"},
    {"document_number": "2025-00636", "publication_date": "2025-01-15", "type": "Rule",
     "title": "Framework for Artificial Intelligence Diffusion"},
    # invented for the tests: published after the point-in-time test's as-of date (2026-06-30)
    {"document_number": "2026-16001", "publication_date": "2026-08-14", "type": "Rule",
     "title": "Test rule published in August 2026"},
]  # fmt: skip


def fedreg_page(base: str, page: int, *, start: date, end: date, query: str) -> dict:
    documents = [d for d in FEDREG_DOCUMENTS if start.isoformat() <= d["publication_date"] <= end.isoformat()]
    pages = [documents[:2], documents[1:]]  # document 2 appears on both pages, as paging drift does
    results = [
        {**d, "abstract": "BIS amends the Export Administration Regulations.",
         "html_url": f"https://www.federalregister.gov/documents/{d['publication_date'].replace('-', '/')}/{d['document_number']}/rule",
         "agencies": [{"raw_name": "DEPARTMENT OF COMMERCE", "name": "Industry and Security Bureau", "slug": "industry-and-security-bureau"}]}
        for d in pages[page - 1]
    ]  # fmt: skip
    document = {"count": len(documents), "total_pages": 2, "results": results}
    if page == 1:
        # like the real API: the same query, next page
        document["next_page_url"] = f"{base}/api/v1/documents.json?{query}&page=2"
    return document


class PointInTime:
    """What the world holds that a backfill as of 2026-06-30 must not see (for the universe's NVDA and MSFT)."""

    AS_OF = date(2026, 6, 30)
    RESTATED = ("NVDA", date(2026, 3, 31), date(2026, 7, 15))  # ticker, quarter, the 10-Q/A's filing date
    RESTATED_REVENUE_FACTOR = 1.02
    LATE = ("MSFT", date(2026, 3, 31), 110)  # ticker, quarter, days from its end to its filing
    MISSING = ("MSFT", date(2025, 12, 31))  # no 10-K for fiscal 2025: the quarter is never filed
    FEDREG_LATE = "fr-2026-16001"  # published 2026-08-14

    @classmethod
    def apply(cls, fundamentals: pd.DataFrame) -> pd.DataFrame:
        """The sample statements with the late reporter's quarter re-dated and the missing quarter dropped."""
        frame = fundamentals.copy()
        ticker, quarter, days = cls.LATE
        late = (frame["ticker"] == ticker) & (frame["fiscal_period_end"] == quarter)
        frame.loc[late, "report_date"] = quarter + timedelta(days=days)
        ticker, quarter = cls.MISSING
        missing = (frame["ticker"] == ticker) & (frame["fiscal_period_end"] == quarter)
        return frame[~missing].reset_index(drop=True)

    @classmethod
    def restatements(cls, fundamentals: pd.DataFrame, securities: list[Security]) -> pd.DataFrame:
        """The 10-Q/A: the quarter's revenue re-filed, its accession and acceptance time (16:42 New York)."""
        ticker, quarter, filed = cls.RESTATED
        rows = fundamentals[(fundamentals["ticker"] == ticker) & (fundamentals["fiscal_period_end"] == quarter)]
        if rows.empty or filed > max(fundamentals["report_date"], default=date.min):
            return pd.DataFrame(columns=["ticker", "cik", "fiscal_period_end", "fiscal_year", "fiscal_quarter",
                                         "revenue", "filing_date", "accession_number", "accepted_at"])  # fmt: skip
        cik = normalize_cik(next(s.cik for s in securities if s.ticker == ticker) or "")
        sequence = filed.timetuple().tm_yday * 3  # slot 0: free in the sample's numbering (8-K 1, report 2)
        accepted = datetime.combine(filed, time(16, 42), tzinfo=SEC_NEW_YORK).astimezone(UTC).replace(tzinfo=None)
        return rows.assign(
            cik=cik,
            revenue=rows["revenue"] * cls.RESTATED_REVENUE_FACTOR,
            filing_date=filed,
            accession_number=f"{cik}-{filed.year % 100:02d}-{sequence:06d}",
            accepted_at=accepted,
        )

    @staticmethod
    def amendment_filings(restatements: pd.DataFrame) -> pd.DataFrame:
        """The 10-Q/A rows of the submissions index."""
        return pd.DataFrame(
            {
                "ticker": restatements["ticker"], "cik": restatements["cik"],
                "accession_number": restatements["accession_number"], "form": "10-Q/A", "items": None,
                "filing_date": restatements["filing_date"], "accepted_at": restatements["accepted_at"],
                "report_date": restatements["fiscal_period_end"], "primary_document": "amendment.htm",
                "source": "sample",
            }
        )  # fmt: skip


class RecordedSources:
    """What the server serves, computed from the settings' universe and sample scale."""

    def __init__(self, settings: Settings, *, as_of: date) -> None:
        window = PriceWindow(end=as_of, starts={}, default_start=settings.sample.start_date)
        self.settings = settings
        self.prices = generate_prices(settings.universe, settings.sample, window)
        self.fx = generate_fx(settings.universe.fx_currencies, settings.sample, start={}, end=as_of)
        generated = generate_fundamentals(settings.universe, settings.sample, start={}, end=as_of)
        self.fundamentals = PointInTime.apply(generated)
        self.fundamentals = self.fundamentals[self.fundamentals["report_date"] <= as_of].reset_index(drop=True)
        self.restatements = PointInTime.restatements(self.fundamentals, settings.universe.securities)
        filings = generate_filings(self.fundamentals, settings.universe.securities)
        amendments = PointInTime.amendment_filings(self.restatements)
        self.filings = submission_frame([*filings.to_dict("records"), *amendments.to_dict("records")])
        self.requests: list[str] = []


def _handler(sources: RecordedSources):  # type: ignore[no-untyped-def]
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _send(self, status: int, document: object, content_type: str = "application/json") -> None:
            body = json.dumps(document).encode() if not isinstance(document, bytes) else document
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            sources.requests.append(self.path)
            base = f"http://{self.headers['Host']}"
            if url.path.startswith("/v8/finance/chart/"):
                symbol = unquote(url.path.rsplit("/", 1)[1])
                start = datetime.fromtimestamp(int(query["period1"]), UTC).date()
                end = datetime.fromtimestamp(int(query["period2"]), UTC).date()
                if symbol.endswith("=X"):
                    rows = sources.fx[sources.fx["currency"] == symbol[:3]]
                    rows = rows[(rows["rate_date"] >= start) & (rows["rate_date"] < end)].rename(
                        columns={"rate_date": "trade_date", "usd_per_unit": "close"}
                    )
                    rows = rows.assign(
                        open=rows["close"], high=rows["close"], low=rows["close"], adj_close=rows["close"]
                    )
                    return self._send(200, yahoo_chart(symbol, rows, currency="USD", zone="Europe/London"))
                rows = sources.prices[sources.prices["ticker"] == symbol]
                if rows.empty or symbol == DELISTED:
                    error = {"code": "Not Found", "description": "No data found, symbol may be delisted"}
                    return self._send(404, {"chart": {"result": None, "error": error}})
                rows = rows[(rows["trade_date"] >= start) & (rows["trade_date"] < end)]
                security = sources.settings.universe.get(symbol)
                return self._send(200, yahoo_chart(symbol, rows, currency=security.currency, zone=security.timezone))
            if url.path.startswith("/ws/fundamentals-timeseries/v1/finance/timeseries/"):
                symbol = unquote(url.path.rsplit("/", 1)[1])
                rows = sources.fundamentals[sources.fundamentals["ticker"] == symbol]
                if symbol == DELISTED:
                    rows = rows.iloc[0:0]
                return self._send(200, yahoo_timeseries(symbol, rows))
            if url.path.startswith("/api/xbrl/companyfacts/CIK"):
                cik = url.path.rsplit("CIK", 1)[1].removesuffix(".json")
                if "@" not in self.headers.get("User-Agent", ""):
                    return self._send(
                        403,
                        b"<html>Your request has been identified as part of a network of automated tools</html>",
                        "text/html",
                    )
                security = next(s for s in sources.settings.universe.securities if s.cik == cik)
                rows = sources.fundamentals[sources.fundamentals["ticker"] == security.ticker]
                restated = sources.restatements[sources.restatements["ticker"] == security.ticker]
                return self._send(200, sec_companyfacts(cik, security.name, rows, restated))
            if url.path.startswith("/submissions/"):
                return self._submissions(unquote(url.path.rsplit("/", 1)[1]))
            if url.path == "/api/v1/documents.json":
                page = int(query.get("page", "1"))
                start = date.fromisoformat(query.get("conditions[publication_date][gte]", "2000-01-01"))
                end = date.fromisoformat(query.get("conditions[publication_date][lte]", "2100-01-01"))
                return self._send(200, fedreg_page(base, page, start=start, end=end, query=url.query))
            return self._send(404, {"error": f"no recording for {url.path}"})

        def _submissions(self, name: str) -> None:
            """``/submissions/CIK##########.json`` and its older pages; SEC's 403 and NoSuchKey 404 otherwise."""
            if "@" not in self.headers.get("User-Agent", ""):
                return self._send(
                    403,
                    b"<html>Your request has been identified as part of a network of automated tools</html>",
                    "text/html",
                )
            match = SUBMISSIONS_NAME.fullmatch(name)
            cik = match[1] if match else None
            security = next((s for s in sources.settings.universe.securities if cik and s.cik == cik), None)
            if match and security is not None:
                filings = sources.filings[sources.filings["ticker"] == security.ticker]
                document, pages = sec_submissions(security, filings)
                body = pages.get(name) if match[2] else document
                if body is not None:
                    return self._send(200, body)
            missing = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
                f"<Message>The specified key does not exist.</Message><Key>submissions/{name}</Key></Error>"
            )
            return self._send(404, missing.encode(), "application/xml")

        def do_POST(self) -> None:  # noqa: N802
            sources.requests.append(self.path)
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length) or b"{}")
            if urlparse(self.path).path.rstrip("/") == "/publicAPI/v2/timeseries/data":
                return self._send(
                    200, bls_timeseries(request["seriesid"], int(request["startyear"]), int(request["endyear"]))
                )
            return self._send(404, {"error": "no recording"})

    return Handler


@contextmanager
def serve_recordings(settings: Settings, *, as_of: date) -> Iterator[tuple[str, RecordedSources]]:
    """Start the loopback server; yield (base URL, recorded sources)."""
    sources = RecordedSources(settings, as_of=as_of)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sources))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", sources
    finally:
        server.shutdown()
        server.server_close()
