-- Raw and audit tables of the gapwatch warehouse (DuckDB).
-- Raw tables hold what the sources said, one row per natural key, with the
-- load that last wrote the row. dbt reads them through sources() only.

create schema if not exists raw;
create schema if not exists audit;

-- The configured universe (from flows/config/universe.yaml), reloaded every run.
create table if not exists raw.securities (
    ticker              varchar not null,   -- natural key, e.g. '0700.HK', 'NVDA', '^HSI'
    name                varchar not null,
    group_name          varchar not null,   -- china_tech | us_ai_leader | benchmark
    exchange            varchar not null,   -- XNYS | XNAS | XHKG (trading calendar code)
    currency            varchar not null,   -- listing (trading) currency: USD | HKD
    reporting_currency  varchar,            -- currency of the financial statements: USD | CNY | HKD
    cik                 varchar,            -- SEC CIK, 10 digits, where known
    benchmark_ticker    varchar,            -- benchmark used for relative/abnormal returns
    is_synthetic        boolean not null,   -- true for tickers added by the sample scaler
    source              varchar not null,   -- 'config'
    load_id             varchar not null,
    loaded_at           timestamp not null
);

-- Daily bars in the listing's own currency. open/high/low/close are the
-- prices as traded (not adjusted). adj_close is adjusted for splits and
-- dividends: the ratio of two adj_close values is the total return between
-- them (its level depends on the source's anchor date). dividend is the cash
-- amount per share going ex on trade_date (0 if none); split_ratio is new
-- shares per old share effective on trade_date (1 if none).
create table if not exists raw.prices (
    ticker       varchar not null,
    trade_date   date not null,
    open         double,
    high         double,
    low          double,
    close        double not null,
    adj_close    double not null,
    volume       bigint,
    dividend     double not null,
    split_ratio  double not null,
    currency     varchar not null,
    exchange     varchar not null,
    source       varchar not null,   -- 'sample' | 'yahoo'
    load_id      varchar not null,
    loaded_at    timestamp not null
);

-- Daily FX fixings: US dollars per one unit of `currency`.
create table if not exists raw.fx_rates (
    currency      varchar not null,   -- HKD | CNY
    rate_date     date not null,
    usd_per_unit  double not null,
    pair          varchar not null,   -- Yahoo symbol, e.g. 'HKDUSD=X'
    source        varchar not null,
    load_id       varchar not null,
    loaded_at     timestamp not null
);

-- Quarterly fundamentals in the reporting currency, one row per
-- (ticker, fiscal_period_end, report_date): a restatement is a new row.
-- Flow amounts are for the fiscal quarter (not year to date). capex is a
-- positive amount spent.
create table if not exists raw.fundamentals (
    ticker              varchar not null,
    fiscal_period_end   date not null,
    fiscal_year         integer not null,
    fiscal_quarter      integer not null,
    report_date         date not null,
    currency            varchar not null,
    revenue             double,
    operating_income    double,
    net_income          double,
    rd_expense          double,
    capex               double,
    shares_outstanding  double,
    period_months       integer not null default 3,  -- 3: fiscal quarter; 12: fiscal year (20-F filers)
    source              varchar not null,
    load_id             varchar not null,
    loaded_at           timestamp not null
);

-- Warehouses created before period_months existed get it here.
alter table raw.fundamentals add column if not exists period_months integer default 3;

-- Monthly CPI observations (BLS). period_date is the first day of the
-- reference month. Months never published (October 2025) have no row.
-- release_date is the day BLS published the month (flows/cpi_release.py:
-- the release calendar flows/config/cpi_release_dates.csv, else an estimate
-- of day cpi_release_lag_days of the next month); a row is loaded only once
-- release_date <= --as-of.
create table if not exists raw.cpi (
    series_id                  varchar not null,   -- CUUR0000SA0 | CUSR0000SA0 | CUUR0000SA0L1E | CUSR0000SA0L1E
    period_date                date not null,
    value                      double not null,
    release_date               date,               -- null only on rows loaded before the column existed
    is_release_date_estimated  boolean,            -- true: lag estimate; false: BLS release calendar
    source                     varchar not null,   -- 'bls_cpi_package' | 'bls_api' | 'fred'
    load_id                    varchar not null,
    loaded_at                  timestamp not null
);

-- Warehouses created before CPI release dates existed get them here (filled by the next cpi load).
alter table raw.cpi add column if not exists release_date date;
alter table raw.cpi add column if not exists is_release_date_estimated boolean;

create table if not exists raw.policy_events (
    event_id     varchar not null,   -- stable slug, e.g. '2022-10-07-bis-advanced-computing-rule'
    event_date   date not null,
    category     varchar not null,   -- regulation | export_control | monetary_policy | diplomacy | inflation_release
    region       varchar not null,   -- US | CN | JP | US-CN | US-JP | global
    title        varchar not null,
    source_url   varchar not null,
    source       varchar not null,   -- 'curated' | 'federal_register'
    load_id      varchar not null,
    loaded_at    timestamp not null
);

-- One row per dataset load attempt.
create table if not exists audit.loads (
    load_id                 varchar not null,
    run_id                  varchar,
    dataset                 varchar not null,
    source                  varchar not null,
    as_of                   date not null,
    window_start            date,
    window_end              date,
    rows_extracted          bigint,
    rows_loaded             bigint,
    validation_success      boolean,
    expectations_evaluated  integer,
    expectations_failed     integer,
    status                  varchar not null,   -- succeeded | failed
    error                   varchar,
    landing_path            varchar,
    started_at              timestamp not null,
    finished_at             timestamp
);

alter table audit.loads add column if not exists rows_quarantined bigint default 0;
-- Wall seconds of the load's stages: {"extract": .., "land": .., "validate": .., "load": ..}.
alter table audit.loads add column if not exists stage_seconds json;
-- True when every extracted row was already stored value for value: not re-validated, nothing loaded.
alter table audit.loads add column if not exists unchanged boolean default false;

-- Every rule evaluated for every load: the GX outcome kept in the warehouse
-- (the full GX result JSON is in <home>/validation/<load_id>.json).
create table if not exists audit.validations (
    load_id           varchar not null,
    dataset           varchar not null,
    rule              varchar not null,
    severity          varchar not null,
    success           boolean not null,
    unexpected_count  bigint,
    validated_at      timestamp not null
);

-- Rows held back by validation, with the rules they failed and their raw values.
--   quarantined: failed a 'warning' rule; the rest of the batch loaded
--   rejected:    in a batch rejected whole by a 'critical' rule (kept for inspection)
--   released:    re-validated and loaded later by `gapwatch quarantine release`
create table if not exists audit.quarantine (
    load_id          varchar not null,
    dataset          varchar not null,
    row_number       integer not null,   -- position in the batch
    rules            varchar[] not null,
    record_json      json not null,      -- the raw values as extracted
    status           varchar not null,
    quarantined_at   timestamp not null,
    released_at      timestamp,
    released_by_load varchar
);

-- One row per key (ticker, series, CIK, page) of a live load that failed; the other keys still load.
create table if not exists audit.key_failures (
    load_id      varchar not null,
    dataset      varchar not null,
    source       varchar not null,
    key          varchar not null,
    http_status  integer,
    error        varchar not null,
    failed_at    timestamp not null
);

-- One row per pipeline run.
create table if not exists audit.runs (
    run_id        varchar not null,
    as_of         date not null,
    source        varchar not null,
    started_at    timestamp not null,
    finished_at   timestamp,
    status        varchar not null,   -- running | succeeded | failed
    error         varchar
);

-- Hash of the dbt project, build vars and universe of the run's build (flows/dbt.py::build_fingerprint):
-- a run that loads nothing new with the same fingerprint as the last good build skips dbt and publish.
alter table audit.runs add column if not exists build_fingerprint varchar;
