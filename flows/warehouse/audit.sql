-- The schemas and audit tables of the gapwatch warehouse (DuckDB).
-- The raw tables are declared by the dataset modules (flows/datasets/<name>.py) and
-- raw.securities by flows/warehouse/schema.py; flows.warehouse.schema creates them all.
-- The audit tables record every load, validation, quarantined row, failed key and run.

create schema if not exists raw;
create schema if not exists audit;

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
