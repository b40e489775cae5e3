"""Reports of a comparison: report.json (versioned schema, docs/report-schema.md) and one
self-contained HTML page.

    write_json(result, "report.json")
    write_html(result, "report.html", pseudonymise_paths=True)
"""

from .html_report import to_html, write_html
from .wording import describe, describe_link, describe_test, verdict
from .json_report import SCHEMA_VERSION, ordered_findings, pseudonym, to_json_dict, write_json

__all__ = [
    "SCHEMA_VERSION",
    "describe",
    "describe_link",
    "describe_test",
    "ordered_findings",
    "pseudonym",
    "to_html",
    "to_json_dict",
    "verdict",
    "write_html",
    "write_json",
]
