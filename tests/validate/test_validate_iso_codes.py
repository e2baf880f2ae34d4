"""The cached ISO code sets (`_codes.iso_codes`) give pycountry's verdicts: validate reads
them instead of importing pycountry and loading its ISO 639-3 table every run."""

from __future__ import annotations

import itertools
import string

import pycountry
import pytest

from ivig_fhir.validate._codes import iso_codes

PAIRS = ["".join(p) for p in itertools.product(string.ascii_letters, repeat=2)]
TRIPLES = ["".join(p) for p in itertools.product("aeiouxyzbcdklmnrst", repeat=3)]


@pytest.mark.parametrize(("table", "field", "candidates"), [
    ("language2", "alpha_2", PAIRS),
    ("language3", "alpha_3", TRIPLES + [t.upper() for t in TRIPLES]),
    ("country", "alpha_2", PAIRS),
    ("currency", "alpha_3", TRIPLES + [t.upper() for t in TRIPLES]),
])
def test_iso_code_sets_agree_with_pycountry(table: str, field: str,
                                            candidates: list[str]) -> None:
    db = {"language2": pycountry.languages, "language3": pycountry.languages,
          "country": pycountry.countries, "currency": pycountry.currencies}[table]
    codes = iso_codes()[table]
    differ = [c for c in candidates if (db.get(**{field: c}) is not None) != (c.lower() in codes)]
    assert not differ, differ[:10]
    assert any(c.lower() in codes for c in candidates)


def test_script_codes_agree_with_pycountry() -> None:
    codes = iso_codes()["script"]
    for script in pycountry.scripts:
        assert script.alpha_4.lower() in codes
    assert "zzzq" not in codes and pycountry.scripts.get(alpha_4="Zzzq") is None
