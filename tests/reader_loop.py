"""A BI-like reader for tests: queries the published marts in a loop until told to stop.

Usage: python reader_loop.py <published.duckdb> <stop-file> <results.jsonl>
Each line of the results file is one query: {"ok": true, "state": [...]} or {"ok": false, "error": "..."}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

STATE_SQL = """
select
    (select count(*) from marts.relative_performance),
    (select max(trade_date)::varchar from marts.relative_performance),
    (select count(*) from marts.execution_gap),
    (select count(*) from marts.policy_event_impact),
    (select count(*) from marts.policy_event_group_impact),
    (select count(*) from marts.inflation)
"""


def main() -> None:
    published, stop, results = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    deadline = time.monotonic() + 600
    with results.open("w") as out:
        while not stop.exists() and time.monotonic() < deadline:
            try:
                connection = duckdb.connect(str(published), read_only=True)
                try:
                    state = list(connection.execute(STATE_SQL).fetchone())
                finally:
                    connection.close()
                out.write(json.dumps({"ok": True, "state": state}) + "\n")
            except Exception as exc:  # every failure is a finding: record it
                out.write(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
            out.flush()
            time.sleep(0.02)


if __name__ == "__main__":
    main()
