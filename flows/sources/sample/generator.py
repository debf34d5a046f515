"""Deterministic sample data: prices, FX and quarterly fundamentals.

SAMPLE DATA, NOT MARKET DATA. Every row carries ``source = 'sample'``.

The numbers are synthetic but shaped like the market story gapwatch tracks:
the China tech group drifts below its benchmarks while the US AI leaders run
ahead, and a few China names (see ``SPENDERS_WITHOUT_RESULTS``) raise R&D and
capex steeply without revenue growth or margin gains. Prices follow the real
NYSE/Nasdaq/HKEX trading calendars, in each listing's own currency, with
dividends and two splits so adjustments are exercised.

Generation is *prefix-stable*: each series is drawn from a random stream
seeded by (global seed, ticker) and starting on the fixed sample start date,
one draw per session, so the value for a given day never depends on the
``--as-of`` date or on the window asked for. Re-running any day reproduces
the same rows, and a later ``--as-of`` only adds days. Fundamentals draw a
company's level once and each fiscal period's noise from a stream seeded by
(global seed, ticker, period end), so the statements of a period are the same
whatever the as-of date: a later ``--as-of`` only adds quarters.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from flows.calendars import sessions
from flows.ops import progress
from flows.settings import SampleSettings, Security, Universe

SOURCE = "sample"

# Splits in the sample (new shares per old share). Dates echo real events so the
# series look familiar, but the prices around them are synthetic.
SAMPLE_SPLITS: dict[str, tuple[date, float]] = {
    "NVDA": (date(2024, 6, 10), 10.0),
    "AVGO": (date(2024, 7, 15), 10.0),
}
# Quarterly dividend yield per ex-date for the dividend payers of the sample.
SAMPLE_DIVIDEND_YIELDS: dict[str, float] = {
    "MSFT": 0.0020,
    "AVGO": 0.0040,
    "ORCL": 0.0030,
    "NTES": 0.0050,
    "0700.HK": 0.0040,
    "SPY": 0.0035,
    "QQQ": 0.0015,
}
DIVIDEND_EVERY_SESSIONS = 63
# China names that spend heavily on AI (R&D + capex) without revenue or margin gains.
SPENDERS_WITHOUT_RESULTS: frozenset[str] = frozenset({"BABA", "BIDU", "1024.HK"})

BENCHMARK_PARAMS: dict[str, tuple[float, float, float]] = {
    # ticker: (annual drift, annual volatility, starting level)
    "SPY": (0.10, 0.14, 470.0),
    "QQQ": (0.16, 0.18, 400.0),
    "KWEB": (-0.08, 0.22, 30.0),
    "^HSI": (-0.02, 0.18, 23000.0),
}
GROUP_PARAMS: dict[str, tuple[float, float, float]] = {
    # group: (annual alpha, beta to benchmark, annual idiosyncratic volatility)
    "us_ai_leader": (0.14, 1.2, 0.18),
    "china_tech": (-0.06, 1.0, 0.18),
    "benchmark": (0.0, 1.0, 0.20),
}
FX_CENTRAL: dict[str, float] = {"HKD": 7.80, "CNY": 7.00, "TWD": 31.0}
FX_PAIR = "{currency}USD=X"


def _stream(seed: int, key: str, purpose: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode()), zlib.crc32(purpose.encode())])


@dataclass(frozen=True)
class PriceWindow:
    """Which days to emit: per ticker, trade dates in [start, end]."""

    end: date
    starts: dict[str, date]
    default_start: date

    def start_for(self, ticker: str) -> date:
        return self.starts.get(ticker, self.default_start)


def _daily_returns(
    security: Security, days: pd.DatetimeIndex, seed: int, benchmark_returns: pd.Series | None
) -> np.ndarray:
    rng = _stream(seed, security.ticker, "returns")
    shocks = rng.standard_normal(len(days))
    if security.group == "benchmark" and security.ticker in BENCHMARK_PARAMS:
        drift, vol, _ = BENCHMARK_PARAMS[security.ticker]
        return drift / 252 + vol / np.sqrt(252) * shocks
    alpha, beta, vol = GROUP_PARAMS[security.group]
    tweak = _stream(seed, security.ticker, "params").uniform(-0.05, 0.05, size=2)
    market = np.zeros(len(days))
    if benchmark_returns is not None:
        market = benchmark_returns.reindex(days).fillna(0.0).to_numpy()
    return (alpha + tweak[0]) / 252 + (beta + tweak[1]) * market + vol / np.sqrt(252) * shocks


def _price_columns(
    security: Security, days: pd.DatetimeIndex, returns: np.ndarray, seed: int, first: date | None = None
) -> dict[str, np.ndarray]:
    """The bars of ``days`` on or after ``first``, column by column: drawn over every day (so the series is
    prefix-stable), but only the emitted days become rows."""
    count = len(days)
    start_level = BENCHMARK_PARAMS.get(security.ticker, (0, 0, 0))[2] or float(
        _stream(seed, security.ticker, "level").uniform(20, 400)
    )
    day_index = np.arange(count)
    yield_q = SAMPLE_DIVIDEND_YIELDS.get(security.ticker, 0.0)
    offset = zlib.crc32(security.ticker.encode()) % DIVIDEND_EVERY_SESSIONS
    is_ex = (yield_q > 0) & (day_index % DIVIDEND_EVERY_SESSIONS == offset) & (day_index > 0)
    split_ratio = np.ones(count)
    if security.ticker in SAMPLE_SPLITS:
        split_day, ratio = SAMPLE_SPLITS[security.ticker]
        split_ratio[days == pd.Timestamp(split_day)] = ratio
    is_ex &= split_ratio == 1.0
    dividend_yield = np.where(is_ex, yield_q, 0.0)
    # Post-split-basis price: P_t = P_{t-1} * (1 + r_t - q_t); total return index: prod(1 + r_t).
    growth = 1.0 + returns - dividend_yield
    growth[0] = 1.0
    price = start_level * np.cumprod(growth)
    total_return = np.cumprod(np.where(day_index == 0, 1.0, 1.0 + returns))
    # Unadjusted (as traded) close: multiply by the splits still to come after each day.
    splits_after = np.cumprod(split_ratio[::-1])[::-1] / split_ratio
    close = price * splits_after
    previous_close = np.concatenate([[close[0]], close[:-1]])
    dividend = np.round(dividend_yield * previous_close, 4)

    # One stream per field: each draws exactly one number per session, which keeps the series prefix-stable.
    def shocks(field: str) -> np.ndarray:
        return _stream(seed, security.ticker, field).standard_normal(count)

    open_ = close * (1 + 0.01 * shocks("open"))
    high = np.maximum(open_, close) * (1 + np.abs(0.008 * shocks("high")))
    low = np.minimum(open_, close) * (1 - np.abs(0.008 * shocks("low")))
    volume = np.round(np.exp(15.0 + 0.4 * shocks("volume"))).astype("int64")
    if security.group == "benchmark" and security.ticker.startswith("^"):
        volume = np.zeros(count, dtype="int64")
    emit = slice(int(days.searchsorted(pd.Timestamp(first))) if first is not None else 0, None)
    emitted = len(days[emit])

    def constant(value: str) -> np.ndarray:
        return np.full(emitted, value, dtype=object)

    return {
        "ticker": constant(security.ticker),
        "trade_date": days[emit].date,
        "open": np.round(open_[emit], 4),
        "high": np.round(high[emit], 4),
        "low": np.round(low[emit], 4),
        "close": np.round(close[emit], 4),
        "adj_close": np.round(start_level * total_return[emit], 6),
        "volume": volume[emit],
        "dividend": dividend[emit],
        "split_ratio": split_ratio[emit],
        "currency": constant(security.currency),
        "exchange": constant(security.exchange),
        "source": constant(SOURCE),
    }


def generate_prices(
    universe: Universe, sample: SampleSettings, window: PriceWindow, *, tickers: Collection[str] | None = None
) -> pd.DataFrame:
    """Daily bars for every security (or only ``tickers``), trade dates in each ticker's window.

    A company's returns lean on its benchmark's: the benchmarks' series are drawn whether or not they are
    emitted, so a ticker's bars are the same in whichever part of a chunked extraction it comes."""
    columns: list[dict[str, np.ndarray]] = []
    benchmark_returns: dict[str, pd.Series] = {}
    wanted = None if tickers is None else set(tickers)
    for security in (s for s in universe.securities if s.group == "benchmark"):
        days = sessions(security.exchange, sample.start_date, window.end)
        market = benchmark_returns.get(security.benchmark or "")
        benchmark_returns[security.ticker] = pd.Series(_daily_returns(security, days, sample.seed, market), index=days)
    ordered = sorted(
        (s for s in universe.securities if wanted is None or s.ticker in wanted), key=lambda s: s.group != "benchmark"
    )
    for security in progress.track(ordered, "prices.tickers"):
        days = sessions(security.exchange, sample.start_date, window.end)
        if len(days) == 0:
            continue
        if security.group == "benchmark":
            returns = benchmark_returns[security.ticker].to_numpy()
        else:
            returns = _daily_returns(security, days, sample.seed, benchmark_returns.get(security.benchmark or ""))
        columns.append(_price_columns(security, days, returns, sample.seed, window.start_for(security.ticker)))
    # one frame from all the columns at once: a frame per ticker costs more than drawing its series
    columns = [part for part in columns if len(part["trade_date"])]
    if not columns:
        return pd.DataFrame(columns=PRICE_COLUMNS)
    return pd.DataFrame({name: np.concatenate([part[name] for part in columns]) for name in PRICE_COLUMNS})


def generate_fx(currencies: list[str], sample: SampleSettings, *, start: dict[str, date], end: date) -> pd.DataFrame:
    """Daily (weekday) USD-per-unit rates for each currency."""
    frames = []
    days = pd.bdate_range(sample.start_date, end)
    for currency in currencies:
        central = FX_CENTRAL.get(currency, 5.0)
        rng = _stream(sample.seed, currency, "fx")
        if currency == "HKD":
            # The HKD is pegged within 7.75-7.85 per USD.
            units_per_usd = np.clip(central + 0.02 * np.cumsum(rng.standard_normal(len(days))) / 10, 7.75, 7.85)
        else:
            walk = np.cumsum(0.003 * rng.standard_normal(len(days)))
            units_per_usd = central * np.exp(np.clip(walk, -0.12, 0.12))
        frame = pd.DataFrame(
            {
                "currency": currency,
                "rate_date": days.date,
                "usd_per_unit": np.round(1.0 / units_per_usd, 8),
                "pair": FX_PAIR.format(currency=currency),
                "source": SOURCE,
            }
        )
        frames.append(frame[frame["rate_date"] >= start.get(currency, sample.start_date)])
    return _concat(frames, FX_COLUMNS)


def _quarter_ends(first: date, last: date) -> list[date]:
    ends = pd.date_range(pd.Timestamp(first), pd.Timestamp(last), freq="QE")
    return [stamp.date() for stamp in ends]


def _profile(security: Security) -> tuple[float, float, float, float, float, float, float]:
    """Fundamentals profile of a company, as yearly rates.

    (revenue growth, margin start, margin change, R&D share start, R&D change, capex share start, capex change)
    """
    if security.ticker in SPENDERS_WITHOUT_RESULTS or (
        security.is_synthetic and security.group == "china_tech" and zlib.crc32(security.ticker.encode()) % 5 == 0
    ):
        return (0.02, 0.15, -0.02, 0.15, 0.012, 0.05, 0.025)
    if security.group == "us_ai_leader":
        return (0.25, 0.28, 0.02, 0.14, 0.0, 0.08, 0.025)
    return (0.08, 0.18, 0.0, 0.10, 0.002, 0.05, 0.002)


def _period_noise(seed: int, ticker: str, period_end: date) -> np.ndarray:
    """The four noise terms of one company's statements for one fiscal period (revenue, margin, capex share,
    net income): a stream of their own, seeded by (seed, ticker, period), so a period's figures never depend
    on which other periods are generated -- the as-of date, the window, the history's length."""
    return _stream(seed, ticker, f"fundamentals|{period_end.isoformat()}").normal(0.0, 0.03, size=4)


def generate_fundamentals(
    universe: Universe,
    sample: SampleSettings,
    *,
    start: dict[str, date],
    end: date,
    tickers: Collection[str] | None = None,
) -> pd.DataFrame:
    """Quarterly statements for every non-benchmark company (or only ``tickers``) reported on or before ``end``.

    History starts two years before the price history so trailing-twelve-month
    and year-on-year figures exist from the first price date. ``start`` holds,
    per ticker, the first report date to emit. Each company's figures come from
    streams of its own, so ``tickers`` changes which rows are built, not their values.
    """
    first_period = date(sample.start_date.year - 2, 3, 31)
    periods = _quarter_ends(first_period, end)
    rows = []
    for security in universe.securities:
        if security.group == "benchmark" or (tickers is not None and security.ticker not in tickers):
            continue
        growth, margin0, margin_step, rd0, rd_step, capex0, capex_step = _profile(security)
        company = _stream(sample.seed, security.ticker, "fundamentals")
        level = company.uniform(5e9, 60e9) * (7.0 if security.reporting_currency == "CNY" else 1.0)
        shares0 = company.uniform(0.5e9, 10e9)
        lag_days = 25 + zlib.crc32(security.ticker.encode()) % 25
        split = SAMPLE_SPLITS.get(security.ticker)
        for number, period_end in enumerate(periods):
            report_date = period_end + timedelta(days=lag_days)
            if report_date > end or report_date < start.get(security.ticker, date.min):
                continue
            noise = _period_noise(sample.seed, security.ticker, period_end)
            years = number / 4.0
            revenue = level / 4.0 * (1 + growth) ** years * (1 + noise[0])
            margin = margin0 + margin_step * years + noise[1] / 3
            rd_share = rd0 + rd_step * years
            capex_share = capex0 + capex_step * years + noise[2] / 3
            shares = shares0 * (1 - 0.004 * number)
            if split and period_end >= split[0]:
                shares *= split[1]
            rows.append(
                {
                    "ticker": security.ticker,
                    "fiscal_period_end": period_end,
                    "fiscal_year": period_end.year,
                    "fiscal_quarter": (period_end.month - 1) // 3 + 1,
                    "report_date": report_date,
                    "currency": security.reporting_currency,
                    "revenue": round(revenue, 0),
                    "operating_income": round(revenue * margin, 0),
                    "net_income": round(revenue * margin * 0.82 * (1 + noise[3]), 0),
                    "rd_expense": round(revenue * rd_share, 0),
                    "capex": round(revenue * max(capex_share, 0.01), 0),
                    "shares_outstanding": round(shares, 0),
                    "source": SOURCE,
                }
            )
    return pd.DataFrame(rows, columns=FUNDAMENTAL_COLUMNS).assign(period_months=3)


PRICE_COLUMNS = [
    "ticker", "trade_date", "open", "high", "low", "close", "adj_close", "volume",
    "dividend", "split_ratio", "currency", "exchange", "source",
]  # fmt: skip
FX_COLUMNS = ["currency", "rate_date", "usd_per_unit", "pair", "source"]
FUNDAMENTAL_COLUMNS = [
    "ticker", "fiscal_period_end", "fiscal_year", "fiscal_quarter", "report_date", "currency",
    "revenue", "operating_income", "net_income", "rd_expense", "capex", "shares_outstanding", "source",
]  # fmt: skip


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]
