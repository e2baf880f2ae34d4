"""Rules of the FHIR specification that no StructureDefinition states as a constraint, checked
on the walk's nodes. Layer `structure`.

- base64Binary: decodes (the definitions' regex only checks the alphabet);
- canonical: does not end in `|` (a version separator with no version);
- Attachment: `size` is the length of the decoded `data`, `hash` its SHA-1 (base64);
- contained: ids unique within the resource;
- meta.profile: a profile this version's offline definitions hold is the base type itself;
  any other is reported as not checked (a warning: nothing was verified against it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from ivig_fhir.definitions import Definitions
from ivig_fhir.problems import Problem, Severity

from ._walk import Node, Walk

LAYER = "structure"
_SPACE = re.compile(r"\s+")
_CORE = "http://hl7.org/fhir/StructureDefinition/"


def _decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(_SPACE.sub("", text), validate=True)
    except (binascii.Error, ValueError):
        return None


class _Rules:
    def __init__(self, defs: Definitions, file: str, line: int | None) -> None:
        self.defs = defs
        self.file = file
        self.line = line
        self.out: list[Problem] = []

    def problem(self, loc: str, message: str, code: str, severity: Severity = "error") -> None:
        self.out.append(Problem(self.file, self.line, None, loc, message, severity, LAYER, code))

    def primitive(self, node: Node) -> None:
        v = node.value
        if not isinstance(v, str):
            return
        if node.type == "base64Binary" and _decode(v) is None:
            self.problem(node.loc, "not valid base64: the characters do not decode (length or "
                         "padding)", "invalid-base64")
        elif node.type == "canonical" and v.endswith("|"):
            self.problem(node.loc, f"canonical {v!r} ends with '|': give a version after it or "
                         "leave the '|' out", "invalid-canonical")

    def attachment(self, node: Node) -> None:
        att = node.value
        data = att.get("data")
        if not isinstance(data, str):
            return
        raw = _decode(data)
        if raw is None:
            return  # the base64Binary rule reports it
        size = att.get("size")
        if isinstance(size, int | str) and not isinstance(size, bool) and \
                str(size).isdigit() and int(size) != len(raw):
            self.problem(f"{node.loc}.size", f"Attachment.size says {size} bytes but data "
                         f"decodes to {len(raw)}", "attachment-size")
        digest = att.get("hash")
        if isinstance(digest, str) and _decode(digest) is not None and \
                _decode(digest) != hashlib.sha1(raw).digest():  # noqa: S324 - FHIR says SHA-1
            self.problem(f"{node.loc}.hash", "Attachment.hash is not the SHA-1 of data",
                         "attachment-hash")

    def resource(self, node: Node) -> None:
        res = node.value
        contained = res.get("contained")
        if isinstance(contained, list):
            seen: set[str] = set()
            for i, c in enumerate(contained):
                cid = c.get("id") if isinstance(c, dict) else None
                if isinstance(cid, str):
                    if cid in seen:
                        self.problem(f"{node.loc}.contained[{i}].id", f"duplicate contained id "
                                     f"{cid!r}: contained resources need distinct ids",
                                     "duplicate-contained-id")
                    seen.add(cid)
        meta = res.get("meta")
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        for i, url in enumerate(profiles if isinstance(profiles, list) else ()):
            if not isinstance(url, str):
                continue
            base = url.split("|", 1)[0]
            if base == _CORE + node.type:
                continue  # the base definition: checked throughout
            self.problem(f"{node.loc}.meta.profile[{i}]", f"profile {url} is not available "
                         "offline: the resource was checked against the base "
                         f"{node.type} definition only", "profile-not-checked", "warning")


def check(walk: Walk, defs: Definitions, *, file: str, line: int | None = None) -> list[Problem]:
    rules = _Rules(defs, file, line)
    for node in walk.nodes:
        if node.is_primitive:
            rules.primitive(node)
        elif node.is_resource:
            rules.resource(node)
        elif node.type == "Attachment" and isinstance(node.value, dict):
            rules.attachment(node)
    return rules.out
