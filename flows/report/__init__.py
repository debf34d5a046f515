"""The daily HTML report: a self-contained page of inline SVG charts over the published marts.

Modules, in the order data flows: :mod:`~flows.report.data` (SQL -> small frames),
:mod:`~flows.report.svg` (generic chart helpers), :mod:`~flows.report.charts` (the six
charts and their readings), :mod:`~flows.report.page` (HTML assembly) and
:mod:`~flows.report.writer` (:func:`write_report`).
"""

from flows.report.writer import report_path, write_report

__all__ = ["report_path", "write_report"]
