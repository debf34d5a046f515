"""The curated calendar of real, dated policy events (a CSV shipped with gapwatch, or GAPWATCH_POLICY_EVENTS_FILE).

Registered here: parser ``curated_csv`` (the landed CSV, events up to the ``until`` date in its meta).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from flows.settings import Settings
from flows.sources.curated import reader
from flows.sources.registry import register_parser


@register_parser("curated_csv")
def _parse_events(body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    return reader.parse_events(body, until=date.fromisoformat(meta["until"]))
