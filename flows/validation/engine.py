"""Where Great Expectations runs a suite: the GX context, Data Docs and :func:`run_suite`.

The one module that touches GX's objects. :mod:`flows.validation.gx` prepares a batch and reads the result
(GX's JSON document); this module runs the suite, in the pipeline's process or in the GX worker process
(:mod:`flows.validation.worker`), which calls :func:`run_suite` too.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

EXAMPLE_ROWS = 5
# GX announces its temporary docs folder at INFO on every context; keep the run output clean.
logging.getLogger("great_expectations").setLevel(logging.WARNING)
_gx_lock = threading.Lock()
_gx_context: Any = None


def _context() -> Any:
    global _gx_context
    with _gx_lock:
        if _gx_context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            # This GX module sets its own logger to INFO on import and then announces the temporary
            # docs folder of every ephemeral context; keep the run output clean.
            logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)

            # GX's validation graph creates a tqdm bar even with progress bars off, and tqdm's default lock
            # holds a multiprocessing RLock: a named semaphore the resource tracker (shared with the run's
            # process) watches. The GX worker is killed at the end of a run (worker.py), so that semaphore was
            # never released and the tracker printed "leaked semaphore objects" after a successful run. GX
            # runs in one process and one thread at a time here: a thread lock is all tqdm needs.
            from tqdm import tqdm

            tqdm.set_lock(threading.RLock())
            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            _gx_context = context
        return _gx_context


_docs_sites: dict[Path, str] = {}


def _write_data_docs(context: Any, outcome: Any, *, folder: Path, dataset: str, load_id: str) -> Path:
    """Store the validation result and render GX Data Docs (HTML) in ``folder`` (<home>/data_docs/)."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    with _gx_lock:
        site = _docs_sites.get(folder)
        if site is None:
            site = f"gapwatch_{len(_docs_sites)}"
            context.add_data_docs_site(
                site,
                {
                    "class_name": "SiteBuilder",
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
                },
            )
            _docs_sites[folder] = site
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=dataset),
            run_id=RunIdentifier(run_name=load_id),
            batch_identifier=load_id,
        )
        context.validation_results_store.set(key, outcome)
        context.build_data_docs(site_names=[site], resource_identifiers=[key])
    return folder / "index.html"


@dataclass(frozen=True)
class SuiteRun:
    """What GX needs to validate one batch, in plain values (so it can be sent to the GX worker process)."""

    dataset: str
    checked: pd.DataFrame  # the batch with its derived gx_* columns, positions 0..n-1
    suite: dict[str, Any]  # the suite document (expectations/<dataset>.json)
    parameters: dict[str, Any]  # the suite's $PARAMETER values
    docs_folder: Path | None = None  # render Data Docs there (only for a load)
    load_id: str | None = None
    docs_only_if_failed: bool = False  # a part of a chunked load: Data Docs only for a part that failed a rule


def run_suite(run: SuiteRun) -> dict[str, Any]:
    """Validate ``run.checked`` with GX and return the result as GX's own JSON document. The one place GX runs
    a suite: in this process, or in the GX worker process (flows.validation.worker), which calls this too."""
    import great_expectations as gx

    document = run.suite
    suite = gx.ExpectationSuite(name=document["name"], expectations=document["expectations"], meta=document.get("meta"))
    context = _context()
    # a data source of its own for this batch, deleted afterwards: its execution engine keeps the batch's data
    # loaded until its next batch, so a kept one held each dataset's last batch (the whole prices history after
    # a full build: ~0.8 GB at 500 tickers x 20 years) for as long as the process lived
    with _gx_lock:
        source_name = f"batch_{run.dataset}"  # named alike every time: GX writes it into each result's batch_id
        datasource = context.data_sources.add_or_update_pandas(source_name)
    try:
        definition = datasource.add_dataframe_asset(run.dataset).add_batch_definition_whole_dataframe("whole")
        batch = definition.get_batch(batch_parameters={"dataframe": run.checked})
        outcome = batch.validate(
            suite,
            expectation_parameters=run.parameters,
            result_format={"result_format": "COMPLETE", "partial_unexpected_count": EXAMPLE_ROWS},
        )
        wanted = not (outcome.success and run.docs_only_if_failed)
        if run.load_id is not None and run.docs_folder is not None and wanted:
            _write_data_docs(context, outcome, folder=run.docs_folder, dataset=run.dataset, load_id=run.load_id)
        return outcome.to_json_dict()
    finally:
        with _gx_lock:
            context.data_sources.delete(source_name)
