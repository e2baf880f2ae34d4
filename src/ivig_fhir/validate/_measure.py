"""Measure: a stratifier's CQL criteria need a Library the validator can find. Layer
`structure`.

The HL7 engine's rule (org.hl7.fhir.validation 6.7.9, MeasureValidator, message "No CQL Libraries
found on this Measure", an error), in every Measure it validates: top level, Bundle entry or
contained. Where it fires:
- only on `group.stratifier.criteria`. Population criteria are not looked at, and neither are a
  stratifier's component criteria (the engine asks the group, not the stratifier, for its
  components, and a group has none);
- only where `criteria.language` is exactly `text/cql` or `text/cql.identifier` (R4B's spelling;
  R5's `text/cql-identifier` and `text/cql-expression` are not taken for CQL there);
- when none of the Measure's `library` canonicals resolves. The engine looks them up among the
  definitions it has loaded (core packages, and what a server or guide adds), never among
  contained resources or the entries of the same Bundle (the referee on a Measure next to its
  Library in a Bundle, or with it contained as `#lib`: rejected alike). ivig-fhir's offline
  definitions carry no Library, and neither do the core packages: no library ever resolves here.

This is the engine's rule, not the specification's (which leaves Measure.library optional and
says nothing of where a library lives); a HAPI server that validates uploads applies it.
"""

from __future__ import annotations

from typing import Any

from ivig_fhir.problems import Problem

from ._walk import Walk

LAYER = "structure"
_CQL = frozenset({"text/cql", "text/cql.identifier"})


def _items(v: Any) -> list[tuple[int, dict[str, Any]]]:
    """(index, item) of a JSON array's objects; the indices are the array's own."""
    return [(i, x) for i, x in enumerate(v) if isinstance(x, dict)] if isinstance(v, list) else []


def check(walk: Walk, *, file: str, line: int | None = None) -> list[Problem]:
    out = []
    for node in walk.nodes:
        if not (node.is_resource and node.type == "Measure" and isinstance(node.value, dict)):
            continue
        library = node.value.get("library")
        libraries = [u for u in library if isinstance(u, str)] if isinstance(library, list) else []
        found = ", ".join(libraries) if libraries else "none given"
        for g, group in _items(node.value.get("group")):
            for s, stratifier in _items(group.get("stratifier")):
                criteria = stratifier.get("criteria")
                language = criteria.get("language") if isinstance(criteria, dict) else None
                if language not in _CQL:
                    continue
                out.append(Problem(
                    file, line, None, f"{node.loc}.group[{g}].stratifier[{s}].criteria",
                    f"no CQL Library found for this {language} stratifier (Measure.library: "
                    f"{found}): the HL7 engine, as a HAPI server runs it, resolves a Measure's "
                    "libraries only from the definitions it has loaded, not from contained "
                    "resources or the same Bundle, and rejects CQL stratifier criteria without "
                    "one ('No CQL Libraries found on this Measure')", "error", LAYER,
                    "measure-cql-library"))
    return out
