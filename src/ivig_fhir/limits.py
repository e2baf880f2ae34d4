"""Every limit on input, in one place. No legitimate input comes near them; each exists so
that no file makes a command use more than a few hundred MB or run for minutes, and each is
named in the message of the input that reaches it.

The numbers beside each limit say how far the real data is from it.
"""

from __future__ import annotations

import math

# --- curated YAML (source_data/) -------------------------------------------------------------

MAX_SOURCE_FILE_BYTES = 1024 * 1024
"""One curated YAML file (the largest, terminology.yaml, is 126 KB; libyaml reads it in 0.03 s,
a 1 MB file of comments in 0.02 s). Bounds memory; ruamel.yaml, which read these files
before, ran for minutes on 50 MB of comments."""

MAX_YAML_NODES = 30_000
"""Keys, values, lists and mappings in one curated file (terminology.yaml has about 5,100).
Reaching it takes the reader about 0.25 s on a busy 2-core machine (ruamel.yaml took 9 s)."""

MAX_YAML_DEPTH = 32
"""Nesting of lists and mappings in one curated file (the data uses 7)."""

# YAML aliases (`*name`) and merge keys (`<<:`) are refused outright, not capped: the curated
# data uses neither, an alias bomb expands exponentially, and a merge key hides a field's line.

# --- FHIR JSON read by validate, diff, upload ------------------------------------------------

MAX_JSON_FILE_BYTES = 16 * 1024 * 1024
"""One JSON document read whole into memory (the export Bundle is 0.9 MB). Validating one
takes about 9 bytes of memory per byte of JSON (3.6 MB: 143 MB peak), so 16 MB stays near
250 MB."""

MAX_NDJSON_LINE_BYTES = 16 * 1024 * 1024
"""One NDJSON line, i.e. one resource (NDJSON files are read line by line, never whole)."""

MAX_NDJSON_FILE_BYTES = 256 * 1024 * 1024
"""One NDJSON file. It is streamed in batches of lines (memory stays flat whatever its size:
see `ivig_fhir.validate`), so this bounds time, not memory: a few minutes on two cores. Larger
exports come as several files, which a run takes in any number."""

# No limit on the resources one run checks: NDJSON lines and files go through a bounded
# window of work (a few batches per core), so memory does not grow with the input.

MAX_PROBLEMS_PER_FILE = 1_000
"""Problems kept for one NDJSON file. Past it, the first line with an error ends the check of
the file (and says so); warnings and notes are counted, not listed, and the check goes on (a
large export repeats the same few). A 6 MB NDJSON file of empty objects otherwise yields 4
million problems, 1.2 GB and minutes."""

MAX_JSON_DEPTH = 64
"""Nesting of objects and arrays in one JSON document (the export's deepest is 17); deeper
input would exhaust Python's recursion in the validator and the diff."""

# --- plausible values of curated numbers ------------------------------------------------------
# A number outside its range is an error at its line: a slip such as 1e308 g/kg or a cost of
# 0.0001 must not reach a hospital's decision support. Ranges are inclusive and deliberately
# wide (several times the largest value any IVIG source gives); non-finite values (.inf,
# .nan) are always refused.

PLAUSIBLE_BY_UNIT: dict[str, tuple[float, float]] = {
    "g/kg": (0.01, 5.0),  # IVIG dose per course: sources give 0.2-2 g/kg
    "mg/kg": (10.0, 5000.0),
    "min": (0.0, 24 * 60.0),  # premedication before infusion: 30-60 min
    "h": (0.0, 30 * 24.0),
    "d": (0.0, 365.0),  # course duration: 1-5 days
    "wk": (0.0, 104.0),  # interval between courses: 3-4 weeks; onset 1-3 weeks
    "mo": (0.0, 1560.0),  # ages in months
    "a": (0.0, 130.0),  # ages in years
    "%": (0.0, 100.0),
    "{donor}": (1.0, 1_000_000.0),  # plasma pool: more than 1,000 donors
}
PLAUSIBLE_OTHER_UNIT: tuple[float, float] = (0.0, 1_000_000.0)
"""Any unit not listed above."""

PLAUSIBLE_COST: tuple[float, float] = (1.0, 1_000_000.0)
"""Cost of one course in its currency (sources: USD 3,000-5,000)."""


def plausible_range(unit: str) -> tuple[float, float]:
    return PLAUSIBLE_BY_UNIT.get(unit, PLAUSIBLE_OTHER_UNIT)


def implausible(value: float, bounds: tuple[float, float]) -> str | None:
    """Why `value` is not plausible within `bounds`, or None."""
    if not math.isfinite(value):
        return f"{value} is not a number"
    low, high = bounds
    if not low <= value <= high:
        return f"{value:g} is outside the plausible range {low:g}–{high:g}"
    return None

