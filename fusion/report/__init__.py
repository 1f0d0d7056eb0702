"""The run report: ``report.html``, a self-contained page of charts and tables per run."""

from fusion.report.build import REPORT_NAME, ReportWarning, write_report

__all__ = ["REPORT_NAME", "ReportWarning", "write_report"]
