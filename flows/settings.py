"""Typed settings: the universe YAML plus environment variables.

This is the only module that reads ``os.environ``. Everything else receives a
:class:`Settings` object (or asks :func:`get_settings`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_UNIVERSE = Path(__file__).resolve().parent / "config" / "universe.yaml"

Group = Literal["china_tech", "us_ai_leader", "benchmark"]
GROUPS: tuple[str, ...] = ("china_tech", "us_ai_leader", "benchmark")
EXCHANGES: dict[str, str] = {
    # trading calendar code -> exchange timezone
    "XNYS": "America/New_York",
    "XNAS": "America/New_York",
    "XHKG": "Asia/Hong_Kong",
}
SOURCES: tuple[str, ...] = ("sample", "live")

# Telemetry is off for every tool the pipeline drives (see README, "Telemetry").
TELEMETRY_OFF: dict[str, str] = {
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}
# Settings for the temporary Prefect server started when no PREFECT_API_URL is set:
# without the two recorders disabled it prints shutdown tracebacks (Prefect 3.8).
EPHEMERAL_PREFECT: dict[str, str] = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


class ConfigError(ValueError):
    """The configuration (universe file or environment) is invalid."""


@dataclass(frozen=True)
class Security:
    ticker: str
    name: str
    group: str
    exchange: str
    currency: str
    reporting_currency: str
    cik: str | None = None
    benchmark: str | None = None
    market: str | None = None  # broad market proxy of the event study's market model (without the tested sector)
    is_synthetic: bool = False

    @property
    def timezone(self) -> str:
        return EXCHANGES[self.exchange]


@dataclass(frozen=True)
class Universe:
    securities: tuple[Security, ...]
    group_benchmarks: tuple[tuple[str, str], ...] = ()

    @property
    def tickers(self) -> list[str]:
        return [s.ticker for s in self.securities]

    def get(self, ticker: str) -> Security:
        for security in self.securities:
            if security.ticker == ticker:
                return security
        raise KeyError(ticker)

    def in_group(self, group: str) -> list[Security]:
        return [s for s in self.securities if s.group == group]

    @property
    def fx_currencies(self) -> list[str]:
        """Non-USD currencies used for listing or reporting: each needs a <CCY>USD rate."""
        used = {s.currency for s in self.securities} | {s.reporting_currency for s in self.securities}
        return sorted(used - {"USD"})

    @property
    def exchanges(self) -> list[str]:
        return sorted({s.exchange for s in self.securities})


@dataclass(frozen=True)
class SampleSettings:
    """Scale of the deterministic sample (synthetic) data."""

    seed: int = 20260423
    years: int = 5
    extra_tickers: int = 0

    @property
    def start_date(self) -> date:
        """First day of sample history: 1 January of (2027 - years)."""
        return date(2027 - self.years, 1, 1)


@dataclass(frozen=True)
class SourceSettings:
    """One live source's endpoint and limits (``GAPWATCH_<PREFIX>_BASE_URL``, ``_CONCURRENCY``, ``_RPS``)."""

    base_url: str
    concurrency: int  # requests in flight at once, in the whole process or, on Dask, the whole cluster
    requests_per_second: float = 0.0  # 0: no rate limit of our own (a client may set its source's, e.g. SEC's)


# The live sources, one row each: (source name, environment prefix, default base URL, default concurrency,
# default requests per second). Each source's package registers its client under the same name.
SOURCE_DEFAULTS: tuple[tuple[str, str, str, int, float], ...] = (
    ("yahoo", "YAHOO", "https://query1.finance.yahoo.com", 4, 2.0),
    ("sec_edgar", "SEC", "https://data.sec.gov", 4, 0.0),
    ("bls", "BLS", "https://api.bls.gov", 1, 0.0),
    ("fred", "FRED", "https://fred.stlouisfed.org", 2, 0.0),
    ("federal_register", "FEDREG", "https://www.federalregister.gov", 2, 0.0),
)


@dataclass(frozen=True)
class LiveSettings:
    """Live connectors: per-source base URLs (mirrors/proxies) and limits, credentials, thresholds.

    ``sec_user_agent`` and ``bls_api_key`` are secrets: they go into request
    headers/bodies only, never into logs, landing files or error messages.
    Hashable (a tuple of sources, not a dict): Dask workers key their clients by it.
    """

    sources: tuple[tuple[str, SourceSettings], ...] = tuple(
        (name, SourceSettings(base_url, concurrency, rps)) for name, _, base_url, concurrency, rps in SOURCE_DEFAULTS
    )
    sec_user_agent: str = field(default="", repr=False)
    bls_api_key: str = field(default="", repr=False)
    cpi_source: str = "bls"  # bls | fred
    fedreg_agency: str = "industry-and-security-bureau"
    fedreg_term: str = "export administration regulations"
    http_timeout_seconds: float = 30.0
    http_attempts: int = 4
    reporting_lag_days: int = 45  # fundamentals with only a period end (Yahoo): known this many days later
    max_failed_key_share: float = 0.2  # a dataset fails when more than this share of its keys failed
    task_runner: str = "threads"  # threads | dask: where the per-key fetches run (see flows.ingest.runners)
    dask_address: str = ""  # an existing Dask scheduler (tcp://host:8786); empty: a temporary local cluster
    dask_workers: int = 2  # workers of the temporary local cluster

    @property
    def secrets(self) -> list[str]:
        return [secret for secret in (self.sec_user_agent, self.bls_api_key) if secret]

    def source(self, name: str) -> SourceSettings:
        """The settings of live source ``name`` (e.g. 'yahoo', 'sec_edgar')."""
        for source, settings in self.sources:
            if source == name:
                return settings
        raise KeyError(f"No live source {name!r}; configured: {', '.join(source for source, _ in self.sources)}.")

    def concurrency(self, source: str) -> int:
        """Requests in flight at once for ``source``; 1 for a source with no settings (local payloads)."""
        return dict(self.sources)[source].concurrency if source in dict(self.sources) else 1


TASK_RUNNERS: tuple[str, ...] = ("threads", "dask")


@dataclass(frozen=True)
class Paths:
    home: Path

    @property
    def database(self) -> Path:
        return self.home / "gapwatch.duckdb"

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def published_dir(self) -> Path:
        return self.home / "published"

    @property
    def published_database(self) -> Path:
        return self.published_dir / "gapwatch.duckdb"

    @property
    def dbt_target(self) -> Path:
        return self.home / "dbt_target"

    @property
    def dbt_logs(self) -> Path:
        return self.home / "dbt_logs"

    @property
    def lock_file(self) -> Path:
        return self.home / "gapwatch.lock"

    @property
    def data_docs_index(self) -> Path:
        return self.home / "data_docs" / "index.html"


@dataclass(frozen=True)
class Settings:
    paths: Paths
    universe: Universe
    sample: SampleSettings
    source: str = "sample"
    live: LiveSettings = field(default_factory=LiveSettings)
    timezone: str = "America/New_York"
    schedule_cron: str = "30 18 * * 1-5"
    lookback_days: int = 5
    cpi_release_lag_days: int = 15
    duckdb_threads: int = 2
    duckdb_memory_limit: str = "2GB"
    prefect_api_url: str | None = None
    # Failed and partial runs are announced to this webhook (Slack-compatible JSON). A secret:
    # it goes into the request only, never into logs, summaries or error messages.
    alert_webhook_url: str = field(default="", repr=False)
    alert_timeout_seconds: float = 10.0
    # Fault injection for the crash tests only: "load:<dataset>" parks the run inside that
    # dataset's load transaction (after the delete, before the insert) until it is killed.
    fault_pause: str | None = None
    # GAPWATCH_VERBOSE (set by `gapwatch --verbose`): a fault prints its traceback, not only its one line.
    verbose: bool = False
    dbt_project_dir: Path = field(default=REPO_ROOT / "dbt_project")
    expectations_dir: Path = field(default=REPO_ROOT / "expectations")
    policy_events_file: Path = field(
        default=Path(__file__).resolve().parent / "sources" / "curated" / "policy_events.csv"
    )

    def today(self) -> date:
        """Today's date in the schedule's timezone (the default --as-of)."""
        return datetime.now(ZoneInfo(self.timezone)).date()

    def tool_environment(self) -> dict[str, str]:
        """Environment variables for the tools the pipeline drives (dbt, GX, Prefect)."""
        env = dict(TELEMETRY_OFF)
        env["GAPWATCH_HOME"] = str(self.paths.home)
        if not self.prefect_api_url:
            env.update(EPHEMERAL_PREFECT)
        return env


def _parse_universe(path: Path, *, extra_tickers: int) -> Universe:
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"Universe file not found: {path}. Set GAPWATCH_UNIVERSE to a YAML file.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"Universe file {path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("securities"), list):
        raise ConfigError(f"Universe file {path} must have a top-level 'securities:' list.")
    groups = document.get("groups") or {}
    securities: list[Security] = []
    seen: set[str] = set()
    for position, entry in enumerate(document["securities"], start=1):
        where = f"{path}, security #{position}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping, got {entry!r}.")
        missing = [key for key in ("ticker", "name", "group", "exchange", "currency") if not entry.get(key)]
        if missing:
            raise ConfigError(f"{where}: missing {', '.join(missing)}.")
        ticker = str(entry["ticker"])
        if ticker in seen:
            raise ConfigError(f"{where}: ticker {ticker!r} is listed twice.")
        seen.add(ticker)
        group = str(entry["group"])
        if group not in GROUPS:
            raise ConfigError(f"{where}: group {group!r} for {ticker} is not one of {', '.join(GROUPS)}.")
        exchange = str(entry["exchange"])
        if exchange not in EXCHANGES:
            raise ConfigError(f"{where}: exchange {exchange!r} for {ticker} is not one of {', '.join(EXCHANGES)}.")
        benchmark = entry.get("benchmark") or (groups.get(group) or {}).get("benchmark")
        market = entry.get("market") or (groups.get(group) or {}).get("market")
        currency = str(entry["currency"]).upper()
        securities.append(
            Security(
                ticker=ticker,
                name=str(entry["name"]),
                group=group,
                exchange=exchange,
                currency=currency,
                reporting_currency=str(entry.get("reporting_currency") or currency).upper(),
                cik=str(entry["cik"]).zfill(10) if entry.get("cik") else None,
                benchmark=str(benchmark) if benchmark else None,
                market=str(market) if market else None,
            )
        )
    for security in securities:
        for role, proxy in (("benchmark", security.benchmark), ("market", security.market)):
            if proxy and proxy not in seen:
                raise ConfigError(
                    f"{path}: {role} {proxy!r} of {security.ticker} is not in the universe; "
                    "add it as a security with group: benchmark."
                )
    securities.extend(_synthetic_securities(extra_tickers, groups))
    group_benchmarks = tuple(
        (group, str(spec["benchmark"]))
        for group, spec in groups.items()
        if isinstance(spec, dict) and spec.get("benchmark")
    )
    return Universe(securities=tuple(securities), group_benchmarks=group_benchmarks)


# The synthetic Hong Kong listings take the market proxy the configured ones take (flows/config/universe.yaml).
HONG_KONG_MARKET = "VT"


def _synthetic_securities(count: int, groups: dict) -> list[Security]:
    """Extra sample-only tickers for timing the pipeline at larger sizes."""
    extra = []
    for number in range(1, count + 1):
        hong_kong = number % 4 == 0
        group = "us_ai_leader" if number % 2 else "china_tech"
        if hong_kong:
            group = "china_tech"
        extra.append(
            Security(
                ticker=f"S{number:04d}.HK" if hong_kong else f"SYN{number:04d}",
                name=f"Synthetic security {number:04d} (sample data)",
                group=group,
                exchange="XHKG" if hong_kong else ("XNAS" if number % 3 else "XNYS"),
                currency="HKD" if hong_kong else "USD",
                reporting_currency="CNY" if group == "china_tech" else "USD",
                benchmark="^HSI" if hong_kong else (groups.get(group) or {}).get("benchmark"),
                market=HONG_KONG_MARKET if hong_kong else (groups.get(group) or {}).get("market"),
                is_synthetic=True,
            )
        )
    return extra


def _int_env(env: dict[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}.")
    return value


def _read_env_file(env: dict[str, str]) -> dict[str, str]:
    """Values from a ``.env`` file (GAPWATCH_ENV_FILE, else ./.env, else the checkout's .env).

    Real environment variables win over the file.
    """
    from dotenv import dotenv_values

    candidates = (
        [Path(env["GAPWATCH_ENV_FILE"])] if env.get("GAPWATCH_ENV_FILE") else [Path(".env"), REPO_ROOT / ".env"]
    )
    for candidate in candidates:
        if candidate.is_file():
            return {key: value for key, value in dotenv_values(candidate).items() if value is not None}
    if env.get("GAPWATCH_ENV_FILE"):
        raise ConfigError(f"GAPWATCH_ENV_FILE points to {env['GAPWATCH_ENV_FILE']}, which is not a file.")
    return {}


def _float_env(
    env: dict[str, str], name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None
) -> float:
    """A finite number in [minimum, maximum]: 'nan' and 'inf' are refused (a NaN compares false with every
    bound, so it would silently switch a guard off)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    allowed = (
        f"a finite number between {minimum:g} and {maximum:g}"
        if maximum is not None
        else f"a finite number of at least {minimum:g}"
    )
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {allowed}, got {raw!r}.") from None
    if not math.isfinite(value) or value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{name} must be {allowed}, got {raw!r}.")
    return value


# DuckDB's memory_limit: a number and a unit (KB, MB, GB, TB, KiB, MiB, GiB, TiB, B, bytes), or a percentage of
# this machine's memory ('80%', turned into MiB here: DuckDB itself takes no percentages).
MEMORY_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB|B|bytes|%)\s*", re.IGNORECASE)


def _physical_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _memory_limit_env(env: dict[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    match = MEMORY_SIZE.fullmatch(raw)
    amount = float(match[1]) if match else 0.0
    if match is None or amount <= 0 or (match[2] == "%" and amount > 100):
        raise ConfigError(
            f"{name} must be a DuckDB memory size such as '4GB', '512MiB' or a share of this machine's memory "
            f"such as '80%', got {raw!r}."
        )
    if match[2] == "%":
        return f"{max(1, int(_physical_memory() * amount / 100 / 2**20))}MiB"
    return f"{match[1]}{match[2]}"


def check_home_writable(home: Path) -> None:
    """The home must be (or become) a writable directory: the warehouse, landing zone and published copy live
    there. Checked before any run starts, so a read-only home is one line, not a failure half-way."""
    existing = home
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if existing.exists() and not existing.is_dir():
        problem = f"{existing} is a file, not a directory"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    else:
        try:
            home.mkdir(parents=True, exist_ok=True)
            probe = home / f".gapwatch-write-check.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            problem = f"it cannot be written ({exc.strerror or exc})"
    if problem:
        raise ConfigError(
            f"GAPWATCH_HOME={home} is not a writable directory: {problem}. "
            "Point GAPWATCH_HOME at a writable directory (the warehouse, landing zone and published copy live there)."
        )


def _source_settings(env: dict[str, str]) -> tuple[tuple[str, SourceSettings], ...]:
    return tuple(
        (
            name,
            SourceSettings(
                base_url=env.get(f"GAPWATCH_{prefix}_BASE_URL") or base_url,
                concurrency=_int_env(env, f"GAPWATCH_{prefix}_CONCURRENCY", concurrency, minimum=1),
                requests_per_second=_float_env(env, f"GAPWATCH_{prefix}_RPS", rps),
            ),
        )
        for name, prefix, base_url, concurrency, rps in SOURCE_DEFAULTS
    )


def _live_settings(env: dict[str, str]) -> LiveSettings:
    defaults = LiveSettings()
    cpi_source = env.get("GAPWATCH_CPI_LIVE_SOURCE", defaults.cpi_source)
    if cpi_source not in {"bls", "fred"}:
        raise ConfigError(f"GAPWATCH_CPI_LIVE_SOURCE must be 'bls' or 'fred', got {cpi_source!r}.")
    task_runner = env.get("GAPWATCH_TASK_RUNNER") or defaults.task_runner
    if task_runner not in TASK_RUNNERS:
        raise ConfigError(f"GAPWATCH_TASK_RUNNER must be one of {', '.join(TASK_RUNNERS)}, got {task_runner!r}.")
    return LiveSettings(
        sources=_source_settings(env),
        sec_user_agent=env.get("GAPWATCH_SEC_USER_AGENT", ""),
        bls_api_key=env.get("GAPWATCH_BLS_API_KEY", ""),
        cpi_source=cpi_source,
        fedreg_agency=env.get("GAPWATCH_FEDREG_AGENCY") or defaults.fedreg_agency,
        fedreg_term=env.get("GAPWATCH_FEDREG_TERM", defaults.fedreg_term),
        http_timeout_seconds=_float_env(env, "GAPWATCH_HTTP_TIMEOUT", defaults.http_timeout_seconds, minimum=1),
        http_attempts=_int_env(env, "GAPWATCH_HTTP_ATTEMPTS", defaults.http_attempts, minimum=1),
        reporting_lag_days=_int_env(env, "GAPWATCH_REPORTING_LAG_DAYS", defaults.reporting_lag_days),
        max_failed_key_share=_float_env(
            env, "GAPWATCH_MAX_FAILED_KEY_SHARE", defaults.max_failed_key_share, maximum=1.0
        ),
        task_runner=task_runner,
        dask_address=(env.get("GAPWATCH_DASK_ADDRESS") or "").strip(),
        dask_workers=_int_env(env, "GAPWATCH_DASK_WORKERS", defaults.dask_workers, minimum=1),
    )


def _webhook_url(env: dict[str, str]) -> str:
    url = env.get("GAPWATCH_ALERT_WEBHOOK_URL", "").strip()
    if url and not url.startswith(("http://", "https://")):
        # the value is a secret: name the variable, not the value
        raise ConfigError("GAPWATCH_ALERT_WEBHOOK_URL must be an http:// or https:// URL.")
    return url


def load_settings(env: dict[str, str] | None = None, *, read_env_file: bool | None = None) -> Settings:
    """Build settings from the environment (``os.environ`` unless ``env`` is given).

    A ``.env`` file is read too (its values lose to real environment
    variables) when reading ``os.environ``, or when ``read_env_file`` is set.
    """
    if read_env_file is None:
        read_env_file = env is None
    env = dict(os.environ) if env is None else dict(env)
    if read_env_file:
        env = {**_read_env_file(env), **env}
    home = Path(env.get("GAPWATCH_HOME") or REPO_ROOT / "warehouse").expanduser().resolve()
    if "?" in str(home):  # DuckDB reads what follows a '?' in a database path as connection options
        raise ConfigError(f"GAPWATCH_HOME {str(home)!r} holds a '?', which DuckDB cannot open: use a path without.")
    sample = SampleSettings(
        seed=_int_env(env, "GAPWATCH_SAMPLE_SEED", SampleSettings.seed),
        years=_int_env(env, "GAPWATCH_SAMPLE_YEARS", SampleSettings.years, minimum=1),
        extra_tickers=_int_env(env, "GAPWATCH_SAMPLE_TICKERS", 0),
    )
    if sample.years > 25:
        raise ConfigError(
            f"GAPWATCH_SAMPLE_YEARS is at most 25 (the trading calendars start in 2000), got {sample.years}."
        )
    universe_path = Path(env.get("GAPWATCH_UNIVERSE") or DEFAULT_UNIVERSE)
    source = env.get("GAPWATCH_SOURCE", "sample")
    if source not in SOURCES:
        raise ConfigError(f"GAPWATCH_SOURCE must be one of {', '.join(SOURCES)}, got {source!r}.")
    return Settings(
        paths=Paths(home=home),
        universe=_parse_universe(universe_path, extra_tickers=sample.extra_tickers),
        sample=sample,
        source=source,
        live=_live_settings(env),
        lookback_days=_int_env(env, "GAPWATCH_LOOKBACK_DAYS", 5),
        cpi_release_lag_days=_int_env(env, "GAPWATCH_CPI_RELEASE_LAG_DAYS", 15, minimum=1),
        duckdb_threads=_int_env(env, "GAPWATCH_DUCKDB_THREADS", 2, minimum=1),
        duckdb_memory_limit=_memory_limit_env(env, "GAPWATCH_DUCKDB_MEMORY_LIMIT", "2GB"),
        prefect_api_url=env.get("PREFECT_API_URL") or None,
        alert_webhook_url=_webhook_url(env),
        alert_timeout_seconds=_float_env(env, "GAPWATCH_ALERT_TIMEOUT", 10.0, minimum=1),
        fault_pause=env.get("GAPWATCH_FAULT_PAUSE") or None,
        verbose=env.get("GAPWATCH_VERBOSE", "").strip().lower() in {"1", "true", "yes"},
        **(
            {"policy_events_file": Path(env["GAPWATCH_POLICY_EVENTS_FILE"])}
            if env.get("GAPWATCH_POLICY_EVENTS_FILE")
            else {}
        ),
    )


def export_tool_environment(settings: Settings) -> None:
    """Put the tool environment (telemetry off, GAPWATCH_HOME) into this process's environment.

    dbt, GX and Prefect read their settings from the process environment, so the
    pipeline sets them here, once, before importing any of them.
    """
    for name, value in settings.tool_environment().items():
        if name == "GAPWATCH_HOME" or name not in os.environ:
            os.environ[name] = value
