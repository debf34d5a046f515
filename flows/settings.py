"""Typed settings: the universe YAML plus environment variables.

This is the only module that reads ``os.environ``. Everything else receives a
:class:`Settings` object (or asks :func:`get_settings`).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationError, create_model, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    sec_user_agent: SecretStr = SecretStr("")
    bls_api_key: SecretStr = SecretStr("")
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
        """The secret values, for redaction from messages."""
        return [secret.get_secret_value() for secret in (self.sec_user_agent, self.bls_api_key) if secret]

    def source(self, name: str) -> SourceSettings:
        """The settings of live source ``name`` (e.g. 'yahoo', 'sec_edgar')."""
        for source, settings in self.sources:
            if source == name:
                return settings
        raise KeyError(f"No live source {name!r}; configured: {', '.join(source for source, _ in self.sources)}.")

    def concurrency(self, source: str) -> int:
        """Requests in flight at once for ``source``; 1 for a source with no settings (local payloads)."""
        return dict(self.sources)[source].concurrency if source in dict(self.sources) else 1


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
    def published_verified_note(self) -> Path:
        """The published DuckDB file's identity when its content last verified (flows/warehouse/publish.py): kept
        beside the published folder, not in it, which holds only what BI readers open."""
        return self.home / "published.verified.json"

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
        """GX Data Docs (their styles and scripts come from CDNs: online only)."""
        return self.home / "data_docs" / "index.html"

    @property
    def validation_page(self) -> Path:
        """Every load's validation result as one static page that opens offline (flows/validation/page.py)."""
        return self.home / "validation" / "index.html"


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
    # A larger extraction is ingested in parts of about this many rows (groups of keys): each part is
    # extracted, landed and validated alone, and all are loaded in one transaction (flows.ingest.steps).
    ingest_chunk_rows: int = 250_000
    # A first build or full refresh of more price rows is run as a sequence of builds over date ranges of about
    # this many price rows each (flows.warehouse.ranges), so DuckDB never holds the whole history's windows.
    build_range_rows: int = 2_500_000
    cpi_release_lag_days: int = 15
    duckdb_threads: int = 2
    duckdb_memory_limit: str = "2GB"
    dbt_memory_limit: str = "4GB"  # DuckDB's memory limit in the dbt process (dbt_project/profiles.yml)
    prefect_api_url: str | None = None
    # Failed and partial runs are announced to this webhook (Slack-compatible JSON) and to these apprise URLs
    # (Slack, Teams, email, PagerDuty, ...). Secrets: they go into the requests only, never into logs, summaries
    # or error messages.
    alert_webhook_url: SecretStr = SecretStr("")
    alert_urls: tuple[SecretStr, ...] = ()
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
        env["GAPWATCH_DUCKDB_THREADS"] = str(self.duckdb_threads)
        env["GAPWATCH_DBT_MEMORY_LIMIT"] = self.dbt_memory_limit
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


# DuckDB's memory_limit: a number and a unit (KB, MB, GB, TB, KiB, MiB, GiB, TiB, B, bytes), or a percentage of
# this machine's memory ('80%', turned into MiB here: DuckDB itself takes no percentages).
MEMORY_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB|B|bytes|%)\s*", re.IGNORECASE)


def _physical_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


_MEMORY_ALLOWED = "a DuckDB memory size such as '4GB', '512MiB' or a share of this machine's memory such as '80%'"


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


# --- the environment, typed and checked in one place ---------------------------------------------------------------
#
# Every variable gapwatch reads is a field of ``Environment`` (a pydantic-settings model): its type, its bounds and
# the sentence that says what it accepts. ``load_settings`` validates the whole environment at once, so every bad
# value is reported, each as "<VARIABLE> must be <what is allowed>, got <value>." (a secret's value is never shown).

_HTTP_URL = re.compile(r"https?://[^\s/?#]+(?:[/?#]\S*)?")
_DASK_ADDRESS = re.compile(r"(?:tcp|tls|inproc|ucx)://\S+")
# the fault points of the crash tests: Warehouse.fault_point("load:<dataset>") and the publish steps' points
_FAULT_PAUSE = re.compile(r"load:[a-z_]+|publish:(?:duckdb|parquet|switch)")
_BOOLEAN_WORDS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def _allowed(text: str, **extra: Any) -> Any:
    """Field metadata: what the variable accepts, in the words of the error message."""
    return {"allowed": text, **extra}


def _http_url(value: str) -> str:
    if not _HTTP_URL.fullmatch(value):
        raise ValueError("not an http(s) URL")
    return value.rstrip("/")


def _memory_limit(value: str) -> str:
    """DuckDB's memory_limit: a number and a unit, or a share of this machine's memory (turned into MiB here:
    DuckDB itself takes no percentages)."""
    match = MEMORY_SIZE.fullmatch(value)
    amount = float(match[1]) if match else 0.0
    if match is None or amount <= 0 or (match[2] == "%" and amount > 100):
        raise ValueError("not a memory size")
    if match[2] == "%":
        return f"{max(1, int(_physical_memory() * amount / 100 / 2**20))}MiB"
    return f"{match[1]}{match[2]}"


def _boolean(value: Any) -> bool:
    word = str(value).strip().lower()
    if word not in _BOOLEAN_WORDS:
        raise ValueError("not a boolean")
    return _BOOLEAN_WORDS[word]


def verbose_requested() -> bool:
    """GAPWATCH_VERBOSE read by the same rule as the settings, without raising: the CLI's error paths need it when
    the rest of the environment may be invalid."""
    try:
        return _boolean(os.environ.get("GAPWATCH_VERBOSE") or "0")
    except ValueError:
        return False


def alert_url_name(url: str, number: int) -> str:
    """How an alert URL is named in messages: its scheme and position, never the URL (it holds the secret)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "?"
    return f"{scheme}:// (GAPWATCH_ALERT_URLS #{number})"


def split_alert_urls(urls: SecretStr | str) -> list[str]:
    """The apprise URLs of ``GAPWATCH_ALERT_URLS``: separated by commas or white space."""
    text = urls.get_secret_value() if isinstance(urls, SecretStr) else urls
    return [url for url in re.split(r"[\s,]+", text) if url]


def _alert_urls(value: SecretStr) -> SecretStr:
    """Each URL must name a service apprise delivers to (checked by apprise itself, offline)."""
    urls = split_alert_urls(value)
    if not urls:
        return value
    import apprise  # only when alert URLs are set: ~0.3 s

    logger = logging.getLogger("apprise")  # its parse errors would print the URL, which holds the secret
    disabled, logger.disabled = logger.disabled, True
    try:
        unknown = [
            alert_url_name(url, n) for n, url in enumerate(urls, start=1) if not apprise.Apprise.instantiate(url)
        ]
    finally:
        logger.disabled = disabled
    if unknown:
        raise ValueError(f"apprise knows no service by {', '.join(unknown)}")
    return value


FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
MemorySize = Annotated[str, AfterValidator(_memory_limit)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Boolean = Annotated[bool, BeforeValidator(_boolean)]


class _EnvironmentBase(BaseSettings):
    """Every environment variable gapwatch reads (a field's alias is the variable's name).

    ``load_settings`` hands the environment over (``os.environ`` merged with the ``.env`` file, or a test's
    mapping), so the model reads no source of its own.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=False)

    home: str | None = Field(None, alias="GAPWATCH_HOME", json_schema_extra=_allowed("a directory path without '?'"))
    universe: str | None = Field(None, alias="GAPWATCH_UNIVERSE", json_schema_extra=_allowed("a YAML file path"))
    source: Literal["sample", "live"] = Field(
        "sample", alias="GAPWATCH_SOURCE", json_schema_extra=_allowed("'sample' or 'live'")
    )
    sample_seed: int = Field(
        SampleSettings.seed, ge=0, alias="GAPWATCH_SAMPLE_SEED", json_schema_extra=_allowed("an integer of at least 0")
    )
    sample_years: int = Field(
        SampleSettings.years,
        ge=1,
        le=25,
        alias="GAPWATCH_SAMPLE_YEARS",
        json_schema_extra=_allowed("an integer from 1 to 25 (the trading calendars start in 2000)"),
    )
    sample_tickers: int = Field(
        0, ge=0, le=100_000, alias="GAPWATCH_SAMPLE_TICKERS", json_schema_extra=_allowed("an integer from 0 to 100000")
    )
    lookback_days: int = Field(
        5, ge=0, le=3660, alias="GAPWATCH_LOOKBACK_DAYS", json_schema_extra=_allowed("an integer from 0 to 3660")
    )
    ingest_chunk_rows: int = Field(
        250_000,
        ge=1_000,
        le=100_000_000,
        alias="GAPWATCH_INGEST_CHUNK_ROWS",
        json_schema_extra=_allowed("an integer from 1000 to 100000000"),
    )
    build_range_rows: int = Field(
        2_500_000,
        ge=10_000,
        le=1_000_000_000,
        alias="GAPWATCH_BUILD_RANGE_ROWS",
        json_schema_extra=_allowed("an integer from 10000 to 1000000000"),
    )
    cpi_release_lag_days: int = Field(
        15, ge=1, le=31, alias="GAPWATCH_CPI_RELEASE_LAG_DAYS", json_schema_extra=_allowed("an integer from 1 to 31")
    )
    duckdb_threads: int = Field(
        2, ge=1, le=1024, alias="GAPWATCH_DUCKDB_THREADS", json_schema_extra=_allowed("an integer from 1 to 1024")
    )
    duckdb_memory_limit: MemorySize = Field(
        "2GB", alias="GAPWATCH_DUCKDB_MEMORY_LIMIT", json_schema_extra=_allowed(_MEMORY_ALLOWED)
    )
    dbt_memory_limit: MemorySize = Field(
        "4GB", alias="GAPWATCH_DBT_MEMORY_LIMIT", json_schema_extra=_allowed(_MEMORY_ALLOWED)
    )
    policy_events_file: str | None = Field(
        None, alias="GAPWATCH_POLICY_EVENTS_FILE", json_schema_extra=_allowed("a CSV file path")
    )
    prefect_api_url: HttpUrl | None = Field(
        None, alias="PREFECT_API_URL", json_schema_extra=_allowed("an http:// or https:// URL")
    )
    alert_webhook_url: SecretStr = Field(
        SecretStr(""), alias="GAPWATCH_ALERT_WEBHOOK_URL", json_schema_extra=_allowed("an http:// or https:// URL")
    )
    alert_urls: SecretStr = Field(
        SecretStr(""),
        alias="GAPWATCH_ALERT_URLS",
        json_schema_extra=_allowed(
            "apprise URLs (slack://…, msteams://…, mailto://…, pagerduty://…) separated by commas"
        ),
    )
    alert_timeout_seconds: FiniteNumber = Field(
        10.0, ge=1, alias="GAPWATCH_ALERT_TIMEOUT", json_schema_extra=_allowed("a finite number of at least 1")
    )
    fault_pause: str | None = Field(
        None,
        pattern=f"^(?:{_FAULT_PAUSE.pattern})$",
        alias="GAPWATCH_FAULT_PAUSE",
        json_schema_extra=_allowed("'load:<dataset>', 'publish:duckdb', 'publish:parquet' or 'publish:switch'"),
    )
    verbose: Boolean = Field(
        False, alias="GAPWATCH_VERBOSE", json_schema_extra=_allowed("one of 1, 0, true, false, yes, no, on, off")
    )
    # live sources (base URL, concurrency and rate fields per source are added below, one set per SOURCE_DEFAULTS row)
    sec_user_agent: SecretStr = Field(
        SecretStr(""), alias="GAPWATCH_SEC_USER_AGENT", json_schema_extra=_allowed("a User-Agent with a contact")
    )
    bls_api_key: SecretStr = Field(SecretStr(""), alias="GAPWATCH_BLS_API_KEY", json_schema_extra=_allowed("a key"))
    cpi_source: Literal["bls", "fred"] = Field(
        "bls", alias="GAPWATCH_CPI_LIVE_SOURCE", json_schema_extra=_allowed("'bls' or 'fred'")
    )
    fedreg_agency: str = Field(
        "industry-and-security-bureau", alias="GAPWATCH_FEDREG_AGENCY", json_schema_extra=_allowed("an agency slug")
    )
    fedreg_term: str = Field(
        "export administration regulations", alias="GAPWATCH_FEDREG_TERM", json_schema_extra=_allowed("a search term")
    )
    http_timeout_seconds: FiniteNumber = Field(
        30.0, ge=1, alias="GAPWATCH_HTTP_TIMEOUT", json_schema_extra=_allowed("a finite number of at least 1")
    )
    http_attempts: int = Field(
        4, ge=1, le=20, alias="GAPWATCH_HTTP_ATTEMPTS", json_schema_extra=_allowed("an integer from 1 to 20")
    )
    reporting_lag_days: int = Field(
        45, ge=0, le=366, alias="GAPWATCH_REPORTING_LAG_DAYS", json_schema_extra=_allowed("an integer from 0 to 366")
    )
    max_failed_key_share: FiniteNumber = Field(
        0.2,
        ge=0,
        le=1,
        alias="GAPWATCH_MAX_FAILED_KEY_SHARE",
        json_schema_extra=_allowed("a finite number between 0 and 1"),
    )
    task_runner: Literal["threads", "dask"] = Field(
        "threads", alias="GAPWATCH_TASK_RUNNER", json_schema_extra=_allowed("'threads' or 'dask'")
    )
    dask_address: str = Field(
        "",
        pattern=f"^(?:{_DASK_ADDRESS.pattern})?$",
        alias="GAPWATCH_DASK_ADDRESS",
        json_schema_extra=_allowed("a Dask scheduler address such as tcp://host:8786"),
    )
    dask_workers: int = Field(
        2, ge=1, le=256, alias="GAPWATCH_DASK_WORKERS", json_schema_extra=_allowed("an integer from 1 to 256")
    )

    @classmethod
    def settings_customise_sources(cls, settings_cls: Any, init_settings: Any, *_: Any, **__: Any) -> tuple[Any, ...]:
        return (init_settings,)

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_is_http(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and not _HTTP_URL.fullmatch(value.get_secret_value()):
            raise ValueError("not an http(s) URL")
        return value

    @field_validator("alert_urls")
    @classmethod
    def _alert_urls_are_urls(cls, value: SecretStr) -> SecretStr:
        return _alert_urls(value)

    @field_validator("home")
    @classmethod
    def _home_without_question_mark(cls, value: str | None) -> str | None:
        if value and "?" in value:  # DuckDB reads what follows a '?' in a database path as connection options
            raise ValueError("holds a '?'")
        return value


def _source_fields() -> dict[str, Any]:
    """One base URL, concurrency and rate field per live source (``GAPWATCH_<PREFIX>_BASE_URL``, ...)."""
    fields: dict[str, Any] = {}
    for name, prefix, base_url, concurrency, rps in SOURCE_DEFAULTS:
        fields[f"{name}_base_url"] = (
            HttpUrl,
            Field(
                base_url, alias=f"GAPWATCH_{prefix}_BASE_URL", json_schema_extra=_allowed("an http:// or https:// URL")
            ),
        )
        fields[f"{name}_concurrency"] = (
            int,
            Field(
                concurrency,
                ge=1,
                le=256,
                alias=f"GAPWATCH_{prefix}_CONCURRENCY",
                json_schema_extra=_allowed("an integer from 1 to 256"),
            ),
        )
        fields[f"{name}_rps"] = (
            FiniteNumber,
            Field(
                rps,
                ge=0,
                alias=f"GAPWATCH_{prefix}_RPS",
                json_schema_extra=_allowed("a finite number of at least 0 (0: no limit)"),
            ),
        )
    return fields


Environment = create_model("Environment", __base__=_EnvironmentBase, **_source_fields())  # type: ignore[call-overload]
ENVIRONMENT_VARIABLES: tuple[str, ...] = tuple(sorted(str(field.alias) for field in Environment.model_fields.values()))


def _environment_error(error: ValidationError) -> ConfigError:
    """Every bad value at once, each naming the variable, the value (unless it is a secret) and what is allowed."""
    fields = {field.alias: field for field in Environment.model_fields.values()}
    messages = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "the environment"
        field = fields.get(name)
        extra = field.json_schema_extra if field is not None and isinstance(field.json_schema_extra, dict) else {}
        allowed = extra.get("allowed", "valid")
        if field is not None and field.annotation is SecretStr:
            shown = "a value that is not shown (a secret)"
        else:
            shown = repr(problem["input"])
        reason = problem.get("ctx", {}).get("error") if problem["type"] == "value_error" else None
        because = f": {reason}" if reason and str(reason).startswith("apprise") else ""
        messages.append(f"{name} must be {allowed}, got {shown}{because}.")
    return ConfigError("\n".join(messages))


def read_environment(env: dict[str, str]) -> Any:
    """The environment, validated: an ``Environment``. An empty variable counts as unset."""
    values = {name: value for name, value in env.items() if name in ENVIRONMENT_VARIABLES and value.strip() != ""}
    try:
        return Environment(**values)
    except ValidationError as exc:
        raise _environment_error(exc) from None


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
    values = read_environment(env)
    home = Path(values.home or REPO_ROOT / "warehouse").expanduser().resolve()
    sample = SampleSettings(seed=values.sample_seed, years=values.sample_years, extra_tickers=values.sample_tickers)
    live = LiveSettings(
        sources=tuple(
            (
                name,
                SourceSettings(
                    base_url=getattr(values, f"{name}_base_url"),
                    concurrency=getattr(values, f"{name}_concurrency"),
                    requests_per_second=getattr(values, f"{name}_rps"),
                ),
            )
            for name, *_ in SOURCE_DEFAULTS
        ),
        sec_user_agent=values.sec_user_agent,
        bls_api_key=values.bls_api_key,
        cpi_source=values.cpi_source,
        fedreg_agency=values.fedreg_agency,
        fedreg_term=values.fedreg_term,
        http_timeout_seconds=values.http_timeout_seconds,
        http_attempts=values.http_attempts,
        reporting_lag_days=values.reporting_lag_days,
        max_failed_key_share=values.max_failed_key_share,
        task_runner=values.task_runner,
        dask_address=values.dask_address,
        dask_workers=values.dask_workers,
    )
    return Settings(
        paths=Paths(home=home),
        universe=_parse_universe(Path(values.universe or DEFAULT_UNIVERSE), extra_tickers=sample.extra_tickers),
        sample=sample,
        source=values.source,
        live=live,
        lookback_days=values.lookback_days,
        ingest_chunk_rows=values.ingest_chunk_rows,
        build_range_rows=values.build_range_rows,
        cpi_release_lag_days=values.cpi_release_lag_days,
        duckdb_threads=values.duckdb_threads,
        duckdb_memory_limit=values.duckdb_memory_limit,
        dbt_memory_limit=values.dbt_memory_limit,
        prefect_api_url=values.prefect_api_url,
        alert_webhook_url=values.alert_webhook_url,
        alert_urls=tuple(SecretStr(url) for url in split_alert_urls(values.alert_urls)),
        alert_timeout_seconds=values.alert_timeout_seconds,
        fault_pause=values.fault_pause,
        verbose=values.verbose,
        **({"policy_events_file": Path(values.policy_events_file)} if values.policy_events_file else {}),
    )


def export_tool_environment(settings: Settings) -> None:
    """Put the tool environment (telemetry off, GAPWATCH_HOME) into this process's environment.

    dbt, GX and Prefect read their settings from the process environment, so the
    pipeline sets them here, once, before importing any of them.
    """
    for name, value in settings.tool_environment().items():
        if name.startswith("GAPWATCH_") or name not in os.environ:  # ours are the validated values
            os.environ[name] = value
