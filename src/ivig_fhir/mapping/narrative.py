"""Human-readable `text` for every resource: a title, a table of facts, curation notes.

Built from escaped text only, so the XHTML is well-formed and carries no markup from the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ivig_fhir.mapping.context import JsonDict

Row = tuple[str, str | Sequence[str] | None]


def narrative(title: str, rows: Sequence[Row] = (), notes: Sequence[str | None] = ()) -> JsonDict:
    parts = [f'<div xmlns="http://www.w3.org/1999/xhtml"><p><b>{escape(title)}</b></p>']
    shown = [(label, value) for label, value in rows if value]
    if shown:
        parts.append("<table><tbody>")
        for label, value in shown:
            cell = escape(value) if isinstance(value, str) else "<br/>".join(
                escape(v) for v in value)
            parts.append(f"<tr><th>{escape(label)}</th><td>{cell}</td></tr>")
        parts.append("</tbody></table>")
    for note in notes:
        if note:
            parts.append(f"<p><i>Curation note:</i> {escape(note)}</p>")
    parts.append("</div>")
    return {"status": "generated", "div": "".join(parts)}
