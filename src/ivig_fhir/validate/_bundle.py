"""Layer `bundle`: what a FHIR server needs of a transaction (or any) Bundle.

Unique fullUrls, a `request` on every transaction/batch entry, `request.url` consistent with the
resource for PUT and POST, legal ids, and every Reference resolving: to an entry of the Bundle
(by urn:uuid/urn:oid or absolute fullUrl, or a relative `Type/id` against the entries' type and
id or fullUrl base) or to a contained resource (`#id`). An unresolved relative reference is an
error in a document, a warning in other Bundles (see `_MUST_CARRY`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from ivig_fhir.problems import Problem

from ._walk import Node, Walk

LAYER = "bundle"
ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_REL = re.compile(r"^([A-Z][A-Za-z]+)/([^/?#]+)(?:/_history/[^/?#]+)?$")
_ABS_REST = re.compile(r"^(https?://.+)/([A-Z][A-Za-z]+)/([^/?#]+)(?:/_history/[^/?#]+)?$")
_TX = ("transaction", "batch")
_HTTP = re.compile(r"^https?://")
# Bundles whose relative references must resolve to an entry: a document must carry what its
# Composition references (Composition's definition: "any other resources referenced from
# Composition must be included as subsequent entries in the Bundle",
# https://hl7.org/fhir/R5/composition.html). A transaction or batch may name what the server
# already holds (https://hl7.org/fhir/R5/http.html#trules; R4B Bundle-hla-1 references
# ServiceRequest/123, the HL7 engine accepts it); in a collection, searchset, history, message
# or notification a relative reference names a resource on a server too (R5 Bundle-b248b1b2-...,
# R4B Bundle-bundle-response-medsallergies): a warning there. ivig-fhir's own export carries
# everything it references: the build holds that (pipeline.validate_export).
_MUST_CARRY = ("document",)
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]")


def _entry_full_url(loc: str, entries: list[Any]) -> str:
    """The fullUrl of the Bundle entry `loc` lies in, or ""."""
    m = _ENTRY.match(loc)
    entry = entries[int(m.group(1))] if m and int(m.group(1)) < len(entries) else None
    url = entry.get("fullUrl") if isinstance(entry, dict) else None
    return url if isinstance(url, str) else ""
_ABSOLUTE = re.compile(r"^[a-z][a-z0-9+.-]*:\S+$")
# A conditional reference (Type?search): resolved by the server inside a transaction or batch.
_CONDITIONAL = re.compile(r"^[A-Z][A-Za-z]+\?\S+$")


def _p(file: str, line: int | None, field: str, msg: str, code: str,
       severity: str = "error") -> Problem:
    return Problem(file, line, None, field, msg, severity, LAYER, code)  # type: ignore[arg-type]


def _check_full_url(full_url: str, res: dict[str, Any] | None, loc: str, file: str,
                    line: int | None) -> list[Problem]:
    out = []
    if full_url.startswith("urn:uuid:"):
        try:
            uuid.UUID(full_url[9:])
        except ValueError:
            out.append(_p(file, line, loc, f"fullUrl {full_url} is not a valid urn:uuid",
                          "invalid-fullurl"))
    elif full_url.startswith("urn:oid:"):
        if not re.fullmatch(r"[0-2](\.(0|[1-9][0-9]*))+", full_url[8:]):
            out.append(_p(file, line, loc, f"fullUrl {full_url} is not a valid urn:oid",
                          "invalid-fullurl"))
    elif m := _ABS_REST.match(full_url):
        if res is not None:
            rtype, rid = m.group(2), m.group(3)
            if rtype != res.get("resourceType") or ("id" in res and rid != res.get("id")):
                out.append(_p(file, line, loc, f"fullUrl {full_url} does not match the entry's "
                              f"resource {res.get('resourceType')}/{res.get('id')}",
                              "fullurl-mismatch"))
    elif not re.match(r"^[a-z][a-z0-9+.-]*:", full_url):
        out.append(_p(file, line, loc, f"fullUrl {full_url!r} must be absolute (urn:uuid:, "
                      "urn:oid: or an http(s) URL)", "invalid-fullurl"))
    return out


def check(data: dict[str, Any], walk: Walk, *, file: str, line: int | None = None,
          loc: str | None = None) -> list[Problem]:
    out: list[Problem] = []
    base = loc or str(data.get("resourceType", "$this"))
    # Ids of every resource (pattern and length): the structure layer (walk).
    if data.get("resourceType") == "Bundle":
        out += _entries(data, walk, base, file, line)
    else:
        out += _references(walk, None, file, line)
    return out


def _entries(data: dict[str, Any], walk: Walk, base: str, file: str,
             line: int | None) -> list[Problem]:
    out: list[Problem] = []
    btype = data.get("type")
    entries = data.get("entry")
    if not isinstance(entries, list):
        return out
    seen: dict[str, int] = {}
    index: dict[str, Any] = {}  # fullUrl -> resource; "Type/id" -> resource
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        eloc = f"{base}.entry[{i}]"
        res = entry.get("resource") if isinstance(entry.get("resource"), dict) else None
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url:
            version = (res or {}).get("meta", {}).get("versionId") if res else None
            key = full_url + ("|" + version if isinstance(version, str) else "")
            if key in seen:
                out.append(_p(file, line, f"{eloc}.fullUrl", f"duplicate fullUrl {full_url}: "
                              f"entry[{seen[key]}] has it too", "duplicate-fullurl"))
            else:
                seen[key] = i
            out += _check_full_url(full_url, res, f"{eloc}.fullUrl", file, line)
            index.setdefault(full_url, res)
        elif btype in _TX and res is not None and entry.get("request", {}).get("method") != "POST":
            out.append(_p(file, line, eloc, "entry has no fullUrl; references to it cannot "
                          "resolve", "missing-fullurl", "warning"))
        if res is not None and isinstance(res.get("id"), str):
            index.setdefault(f"{res.get('resourceType')}/{res['id']}", res)
        req = entry.get("request")
        if btype in _TX:
            if not isinstance(req, dict):
                out.append(_p(file, line, f"{eloc}.request", f"a {btype} entry needs a request "
                              "(method and url)", "missing-request"))
                continue
            out += _request(req, res, f"{eloc}.request", file, line, index)
        elif req is not None and btype in ("document", "message", "collection", "searchset"):
            out.append(_p(file, line, f"{eloc}.request", f"a {btype} entry has no request",
                          "unexpected-request"))
    out += _references(walk, (entries, index), file, line, btype)
    return out


def _request(req: dict[str, Any], res: dict[str, Any] | None, loc: str, file: str,
             line: int | None, index: dict[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    method, url = req.get("method"), req.get("url")
    if not isinstance(url, str) or not url:
        return out  # structure: request.url is 1..1
    if res is None:
        return out
    rtype = res.get("resourceType")
    path = url.split("?", 1)[0]
    if method == "PUT":
        if "?" in url:
            if path != rtype:
                out.append(_p(file, line, f"{loc}.url", f"conditional PUT {url} does not start "
                              f"with the resource type {rtype}", "request-url-mismatch"))
            return out
        parts = path.split("/")
        if len(parts) != 2 or parts[0] != rtype:
            out.append(_p(file, line, f"{loc}.url", f"PUT url {url!r} should be "
                          f"{rtype}/[id] for this {rtype}", "request-url-mismatch"))
            return out
        if not ID.match(parts[1]):
            out.append(_p(file, line, f"{loc}.url", f"PUT url {url!r}: {parts[1]!r} is not a "
                          "legal id (1-64 of A-Z a-z 0-9 - .)", "invalid-id"))
        if res.get("id") != parts[1]:
            out.append(_p(file, line, f"{loc}.url", f"PUT url {url!r} does not match the "
                          f"resource id {res.get('id')!r}", "request-url-mismatch"))
        index.setdefault(path, res)
    elif method == "POST" and path != rtype and "$" not in path:
        out.append(_p(file, line, f"{loc}.url", f"POST url {url!r} should be the resource type "
                      f"{rtype}", "request-url-mismatch"))
    return out


def _references(walk: Walk, bundle: tuple[list[Any], dict[str, Any]] | None, file: str,
                line: int | None, bundle_type: Any = None) -> list[Problem]:
    out: list[Problem] = []
    for node in walk.nodes:
        if node.type != "Reference" or not isinstance(node.value, dict):
            continue
        ref = node.value.get("reference")
        if not isinstance(ref, str) or not ref:
            continue
        loc = f"{node.loc}.reference"
        if ref.startswith("#"):
            contained = node.root.get("contained") or node.resource.get("contained") or []
            ids = {c.get("id") for c in contained if isinstance(c, dict)}
            if ref != "#" and ref[1:] not in ids:
                out.append(_p(file, line, loc, f"reference {ref} does not resolve to a contained"
                              " resource", "unresolved-reference"))
            continue
        if _CONDITIONAL.match(ref):
            if bundle is None or bundle_type not in _TX:
                out.append(_p(file, line, loc, f"conditional reference {ref!r} is only "
                              "allowed in a transaction or batch Bundle",
                              "conditional-reference"))
            continue
        if not (ref.startswith("urn:") or _REL.match(ref) or _ABSOLUTE.match(ref)):
            # A bare token is still a relative URL (R5 ResearchSubject-example-crossover-
            # placebo-to-drug: 'example-ctgov-study-record'), which the engine accepts; text
            # with spaces is no URL at all.
            out.append(_p(file, line, loc, f"reference {ref!r} is not a valid reference "
                          "(Type/id, an absolute URL, urn:uuid:/urn:oid: or #id)",
                          "invalid-reference", "error" if re.search(r"\s", ref) else "warning"))
            continue
        if bundle is None or node.loc.count("entry[") > 1:
            # A lone resource: its references point to the server. A Bundle inside an entry
            # (a document in a collection) resolves against its own entries, not these.
            continue
        _entries_list, index = bundle
        m = _REL.match(ref)
        source = _entry_full_url(node.loc, _entries_list) if m else ""
        if m and source and bundle_type not in _TX:
            # A relative reference inside an entry is read against that entry's fullUrl
            # ("Resolving references in Bundles", https://hl7.org/fhir/R5/bundle.html#references):
            # with a RESTful fullUrl it means [base]/Type/id, the entry whose fullUrl that is;
            # with a urn:uuid/urn:oid fullUrl it has no meaning inside the Bundle, whatever
            # entry has the same type and id (R5 Bundle-father; the engine: "it doesn't match
            # because of the source fullUrl"). A transaction or batch is left to the server's
            # own rules (a PUT Type/id names what it writes).
            base = _ABS_REST.match(source)
            target = index.get(f"{base.group(1)}/{m.group(1)}/{m.group(2)}") if base else None
            if target is not None:
                out += _target_type(node, target, loc, file, line)
                continue
            twin = _target(ref, index)
            if twin is not None and not (base and bundle_type in ("history", "searchset")):
                out.append(_p(file, line, loc, f"reference {ref} does not resolve to an entry "
                              f"of the Bundle: read against this entry's fullUrl {source} it "
                              "names no entry (an entry has that type and id, but at another "
                              "fullUrl; see https://hl7.org/fhir/R5/bundle.html#references)",
                              "unresolved-reference",
                              "error" if bundle_type in _MUST_CARRY else "warning"))
                continue
        target = None if m and source and bundle_type not in _TX else _target(ref, index)
        if target is not None:
            out += _target_type(node, target, loc, file, line)
            continue
        if ref.startswith("urn:"):
            out.append(_p(file, line, loc, f"reference {ref} does not resolve to an entry of the"
                          " Bundle (no entry has this fullUrl)", "unresolved-reference"))
            continue
        m = _REL.match(ref)
        if m:
            if f"{m.group(1)}/{m.group(2)}" in index or _by_base(ref, index):
                continue
            entry_url = _entry_full_url(node.loc, _entries_list)
            if bundle_type in ("history", "searchset") and _HTTP.match(entry_url):
                # A server's answer: relative to the entry's server base (its absolute
                # fullUrl), the reference names a resource on that server which the Bundle
                # need not carry (R4B Bundle-fdd78223-...: the HL7 engine accepts it).
                out.append(_p(file, line, loc, f"reference {ref} points outside the Bundle "
                              f"(on the server of {entry_url})", "external-reference",
                              "warning"))
                continue
            # The Bundle's own references (signature.who, onBehalfOf) name signers, never
            # content the Bundle must carry (R5 Bundle-father, a document).
            if bundle_type in _MUST_CARRY and ".entry[" in node.loc:
                out.append(_p(file, line, loc, f"reference {ref} does not resolve to an entry of"
                              f" the Bundle (no {m.group(1)} with id {m.group(2)!r})",
                              "unresolved-reference"))
            else:
                held = ("; the server it is sent to must hold it" if bundle_type in _TX
                        else "")
                out.append(_p(file, line, loc, f"reference {ref} does not resolve to an entry of"
                              f" the Bundle (no {m.group(1)} with id {m.group(2)!r}); a "
                              f"{bundle_type} Bundle need not carry what it points at{held}",
                              "unresolved-reference", "warning"))
            continue
        m2 = _ABS_REST.match(ref)
        if m2 and f"{m2.group(2)}/{m2.group(3)}" in index:
            continue
        out.append(_p(file, line, loc, f"reference {ref} points outside the Bundle",
                      "external-reference", "warning"))
    return out


def _target(ref: str, index: dict[str, Any]) -> Any:
    """The Bundle resource a reference resolves to, or None."""
    if ref in index:
        return index[ref]
    if m := _REL.match(ref):
        key = f"{m.group(1)}/{m.group(2)}"
        if key in index:
            return index[key]
        return next((v for k, v in index.items() if k.startswith("http")
                     and k.endswith("/" + key)), None)
    if m2 := _ABS_REST.match(ref):
        return index.get(f"{m2.group(2)}/{m2.group(3)}")
    return None


def _target_type(node: Node, target: Any, loc: str, file: str, line: int | None) -> list[Problem]:
    """The element's Reference(...) types allow the resource it resolves to."""
    allowed = node.elem.targets if node.elem is not None else ()
    rtype = target.get("resourceType") if isinstance(target, dict) else None
    if not allowed or not isinstance(rtype, str) or rtype in allowed:
        return []
    return [_p(file, line, loc, f"{node.elem.path if node.elem else 'reference'} may point at "
               f"{' | '.join(allowed)}, not at a {rtype}", "reference-target-type")]


def _by_base(ref: str, index: dict[str, Any]) -> bool:
    return any(k.endswith("/" + ref) and k.startswith("http") for k in index)
