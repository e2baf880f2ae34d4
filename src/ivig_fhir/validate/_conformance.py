"""Rules on conformance resources that no constraint of the definitions states, checked on the
walk's StructureDefinition nodes (top level, Bundle entries, contained). Layer `structure`.

- `type` is a type this FHIR version defines, or an absolute URL (a logical model's own type);
- a constraint this StructureDefinition defines (its `source` absent or this one's url) has an
  expression written in FHIRPath's grammar: no double-quoted token (strings are single-quoted,
  delimited identifiers back-quoted); in the snapshot, it reads only elements its context has;
- a differential defines only its own constraints (`source` absent or its url), under keys
  the base definition, else the core types (in the engine's order), do not give another
  expression, each key with one expression; in a snapshot a key keeps its expression;
- each differential path names elements of the constrained type: a choice element is written
  `name[x]` or renamed to one of its types (`valueQuantity`), never plain `name`;
- slicing: in a snapshot a slice follows the element that sets its slicing up; a
  discriminator's path names elements inside the sliced element.
"""

from __future__ import annotations

import re
from typing import Any

from ivig_fhir.definitions import Definitions, ElementDef, StructureDef
from ivig_fhir.problems import Problem

from ._walk import Walk

LAYER = "structure"
_CORE = "http://hl7.org/fhir/StructureDefinition/"


def check(walk: Walk, defs: Definitions, *, file: str, line: int | None = None) -> list[Problem]:
    out: list[Problem] = []
    for node in walk.nodes:
        if node.is_resource and node.type == "StructureDefinition" and \
                isinstance(node.value, dict):
            sd = node.value
            for where, message, code in (*_type(sd, defs), *_expressions(sd), *_keys(sd, defs),
                                         *_snapshot_keys(sd), *_names(sd, defs),
                                         *_paths(sd, defs), *_slices(sd),
                                         *_discriminators(sd, defs)):
                out.append(Problem(file, line, None, f"{node.loc}.{where}", message, "error",
                                   LAYER, code))
    return out


def _elements(sd: dict[str, Any], part: str) -> list[tuple[int, dict[str, Any]]]:
    holder = sd.get(part)
    items = holder.get("element") if isinstance(holder, dict) else None
    if not isinstance(items, list):
        return []
    return [(i, e) for i, e in enumerate(items) if isinstance(e, dict)]


def _type(sd: dict[str, Any], defs: Definitions) -> list[tuple[str, str, str]]:
    """StructureDefinition.type: "References are URLs that are relative to
    http://hl7.org/fhir/StructureDefinition ... Absolute URLs are only allowed in logical
    models", so a bare name must be a type of the specification (R5 Bundle-dataelements:
    type 'date.id'). The specification's own logical models (Definition, Event, ...) name the
    type they define: their url is the one the name resolves to."""
    t = sd.get("type")
    if not isinstance(t, str) or ":" in t or defs.structure(t) is not None \
            or sd.get("url") == _CORE + t:
        return []
    return [("type", f"type {t!r} is not a type FHIR {defs.fhir_version or defs.version} "
             "defines; a logical model's own type is an absolute URL (e.g. its url)",
             "structuredefinition-type")]


# --- constraint expressions --------------------------------------------------------------


def _expressions(sd: dict[str, Any]) -> list[tuple[str, str, str]]:
    url = sd.get("url")
    own = {None, url}
    version = sd.get("version")
    if isinstance(url, str) and isinstance(version, str):
        own.add(f"{url}|{version}")
    found = []
    for part in ("snapshot", "differential"):
        for i, elem in _elements(sd, part):
            constraints = elem.get("constraint")
            if not isinstance(constraints, list):
                continue
            for j, c in enumerate(constraints):
                if not isinstance(c, dict) or c.get("source") not in own:
                    continue  # checked where it is defined (the engine does the same)
                expr = c.get("expression")
                at = _stray_quote(expr) if isinstance(expr, str) else None
                if isinstance(expr, str) and at is not None:
                    found.append((
                        f"{part}.element[{i}].constraint[{j}].expression",
                        f"constraint {c.get('key')!r}: the expression is not FHIRPath: a "
                        f"double quote at character {at + 1} ({expr[max(0, at - 20):at + 20]!r});"
                        " strings take single quotes, delimited identifiers back-quotes "
                        "(FHIRPath grammar: STRING, DELIMITEDIDENTIFIER)", "fhirpath-syntax"))
    return found


def _own_sources(sd: dict[str, Any]) -> set[str | None]:
    url, version = sd.get("url"), sd.get("version")
    own: set[str | None] = {None, url if isinstance(url, str) else None}
    if isinstance(url, str) and isinstance(version, str):
        own.add(f"{url}|{version}")
    return own


def _base_keys(sd: dict[str, Any], defs: Definitions
               ) -> tuple[dict[str, tuple[str, str]], bool] | None:
    """The constraints of the base definition's snapshot, key -> (where, expression), the first
    of each key; and whether the core types come next. None: no base to judge against."""
    base = sd.get("baseDefinition")
    if not isinstance(base, str):
        return None
    base = base.split("|", 1)[0]
    core = defs.structure(base[len(_CORE):]) if base.startswith(_CORE) else None
    profile = defs.profiles.get(base)
    typed = defs.structure(profile.type) if profile is not None else None
    added: list[tuple[str, str]] = []
    then_core = True
    if core is not None and core.url == base:
        source, elements = core.type, core.elements
    elif profile is not None and typed is not None:
        source, elements = base, typed.elements
        added = [(inv.key, inv.expression) for inv in profile.invariants]
    else:
        then_core = False
        # A base outside the core (another profile): what the profile inherits from its type
        # at least, and nothing beyond, since the base's own keys are unknown here.
        own_type = sd.get("type")
        typed = defs.structure(own_type) if isinstance(own_type, str) else None
        if sd.get("derivation") != "constraint" or typed is None:
            return None
        source, elements = typed.type, typed.elements
    if sd.get("type") == "Extension":
        # An extension definition is judged against its base only: the referee's engine
        # (offline, java/referee/README.md) fails generating its snapshot and leaves its keys
        # unjudged against the core types; measured on hand-made R5 and R4B extension
        # definitions keying inv-1 anew (no error), where a Patient profile doing the same is
        # rejected (R4B StructureDefinition-allergyintolerance-substanceExposureRisk passes).
        then_core = False
    keys: dict[str, tuple[str, str]] = {}
    for element in elements:
        for c in element.constraints:
            keys.setdefault(c.key, (source, c.expression))
    for key, expression in added:
        keys.setdefault(key, (source, expression))
    return keys, then_core


def _keys(sd: dict[str, Any], defs: Definitions) -> list[tuple[str, str, str]]:
    """Constraint keys in the differential (the engine's StructureDefinitionValidator, messages
    ED_INVARIANT_DIFF_NO_SOURCE and ED_INVARIANT_KEY_ALREADY_USED). A differential defines only
    this StructureDefinition's own constraints: `source` absent or its url. A key names one
    invariant everywhere: the engine looks it up in the base definition's snapshot, then in
    the core types, and the first constraint found under the key must have the same
    expression. Which core type comes first, where several define a key (inv-1 is Task's,
    Parameters' and TestReport's), is the engine's own order (Definitions.core_constraint):
    R5 meets Task's inv-1 first, R4B TestReport's. Within the differential, a key repeated
    keeps its expression. R4 and R4B skip a constraint without an expression (a hint there)."""
    judged = _base_keys(sd, defs)
    if judged is None:
        return []
    base, then_core = judged
    own = _own_sources(sd)
    found = []
    seen: dict[str, object] = {}
    for i, elem in _elements(sd, "differential"):
        constraints = elem.get("constraint")
        for j, c in enumerate(constraints if isinstance(constraints, list) else []):
            key = c.get("key") if isinstance(c, dict) else None
            if not isinstance(c, dict) or not isinstance(key, str) or not key:
                continue
            expr, source = c.get("expression"), c.get("source")
            if not expr and defs.version != "r5":
                continue
            at = f"differential.element[{i}].constraint[{j}]"
            if source not in own:
                found.append((f"{at}.source", f"constraint {key!r}: a differential defines only "
                              f"this StructureDefinition's own constraints, but its source is "
                              f"{source!r}: leave source out (or make it {sd.get('url')!r}); a "
                              "constraint of another profile comes with that profile",
                              "constraint-source"))
                continue
            hit = base.get(key) or (defs.core_constraint(key) if then_core else None)
            if hit is not None and hit[1] != expr:
                found.append((f"{at}.key", f"constraint key {key!r} is already {hit[0]}'s, with "
                              f"the expression {hit[1]!r}: give this constraint a key of its "
                              "own", "constraint-key"))
            elif key in seen and seen[key] != expr:
                found.append((f"{at}.key", f"constraint key {key!r} is used twice in this "
                              f"differential with different expressions (the other is "
                              f"{seen[key]!r}): a key names one invariant", "constraint-key"))
            else:
                seen.setdefault(key, expr)
    return found


def _snapshot_keys(sd: dict[str, Any]) -> list[tuple[str, str, str]]:
    """In a snapshot a key repeated (each element lists the invariants it inherits) keeps its
    expression; ele-1 excepted, which the specification words differently on some types (the
    engine: ED_INVARIANT_EXPRESSION_CONFLICT). Judged, as the engine does, where there is a
    base definition."""
    if not isinstance(sd.get("baseDefinition"), str):
        return []
    first: dict[str, str] = {}
    found = []
    for i, elem in _elements(sd, "snapshot"):
        constraints = elem.get("constraint")
        for j, c in enumerate(constraints if isinstance(constraints, list) else []):
            if not isinstance(c, dict):
                continue
            key, expr = c.get("key"), c.get("expression")
            if not isinstance(key, str) or not key or not isinstance(expr, str) or not expr:
                continue
            was = first.setdefault(key, expr)
            if was != expr and key != "ele-1":
                found.append((f"snapshot.element[{i}].constraint[{j}].expression",
                              f"constraint {key!r} has another expression here than earlier "
                              f"in the snapshot ({was!r}): a key names one invariant",
                              "constraint-key"))
    return found


def _names(sd: dict[str, Any], defs: Definitions) -> list[tuple[str, str, str]]:
    """A constraint this StructureDefinition's snapshot defines reads only elements its
    context has: the element's children as the snapshot lists them, else (an element of a
    datatype) the type's own. R4B ChargeItemDefinition's cid-0 reads `name`, which
    ChargeItemDefinition does not have."""
    url = sd.get("url")
    elements = _elements(sd, "snapshot")
    kids: dict[str, set[str]] = {}
    types: dict[str, list[str]] = {}
    for _, elem in elements:
        path = elem.get("path")
        if not isinstance(path, str):
            continue
        typed = elem.get("type")
        types.setdefault(path, [t["code"] for t in typed if isinstance(t, dict)
                                and isinstance(t.get("code"), str)]
                         if isinstance(typed, list) else [])
        if "." in path:
            parent, name = path.rsplit(".", 1)
            kids.setdefault(parent, set()).add(name.removesuffix("[x]"))
    type_names = set(defs.structures)
    found = []
    for i, elem in elements:
        path, constraints = elem.get("path"), elem.get("constraint")
        if not isinstance(path, str) or not isinstance(constraints, list):
            continue
        children = kids.get(path)
        if children is None:
            codes = types.get(path, [])
            struct = defs.structure(codes[0]) if len(codes) == 1 else None
            if struct is None or struct.kind == "primitive-type":
                continue
            children = {k.removesuffix("[x]") for k in struct.children(struct.type)}
        for j, c in enumerate(constraints):
            expr = c.get("expression") if isinstance(c, dict) else None
            # Only a constraint that names this StructureDefinition as its source: the
            # engine leaves those without one alone (R4B extension
            # allergyintolerance-substanceExposureRisk's inv-1 reads an element Extension
            # lacks and passes).
            if not isinstance(expr, str) or c.get("source") != url \
                    or _stray_quote(expr) is not None:
                continue
            for name in sorted(set(_unknown_names(expr, children,
                                                  type_names | {path.split(".")[0]}))):
                found.append((
                    f"snapshot.element[{i}].constraint[{j}].expression",
                    f"constraint {c.get('key')!r} reads {name!r}, which {path} does not have",
                    "fhirpath-name"))
    return found


_TOKEN = re.compile(r"""\s+|//[^\n]*|/\*.*?\*/|'(?:\\.|[^'\\])*'|`(?:\\.|[^`\\])*`"""
                    r"|@[0-9T:.+\-Z]*|[0-9]+(?:\.[0-9]+)?|[%$]?[A-Za-z_][A-Za-z0-9_]*|.", re.S)
_KEYWORDS = frozenset({"and", "or", "xor", "implies", "is", "as", "in", "contains", "div",
                       "mod", "true", "false"})


def _unknown_names(expr: str, children: set[str], types: set[str]) -> list[str]:
    """The names an expression reads straight off its context (outside every function's
    arguments, not after a '.') that are no child of it. FHIRPath resolves such a name
    against the context's type ("The name '...' is not valid for any of the possible types",
    the engine says); a type's own name there is a type filter, after is/as a type."""
    tokens = [t for t in _TOKEN.findall(expr) if not t.isspace() and not t.startswith("/")]
    unknown = []
    depth = 0  # inside the arguments of a function call
    calls: list[bool] = []  # per open parenthesis: a call's arguments, or a grouping
    for k, tok in enumerate(tokens):
        before = tokens[k - 1] if k else ""
        after = tokens[k + 1] if k + 1 < len(tokens) else ""
        if tok == "(":
            call = bool(re.fullmatch(r"[A-Za-z_`][A-Za-z0-9_`]*", before)) and \
                before not in _KEYWORDS
            calls.append(call)
            depth += call
        elif tok == ")":
            if calls and calls.pop():
                depth -= 1
        elif depth == 0 and (tok[0].isalpha() or tok[0] in "_`") and after != "(" and \
                before != "." and before not in ("is", "as") and tok not in _KEYWORDS:
            name = tok.strip("`")
            if name not in children and name not in types:
                unknown.append(name)
    return unknown


def _stray_quote(expr: str) -> int | None:
    """Where a `"` stands outside a string, a delimited identifier and a comment, else None.
    FHIRPath's lexer (http://hl7.org/fhirpath/N1/grammar.html) has no token starting with `"`
    (STU1 had double-quoted strings; the normative grammar dropped them), so the expression
    cannot parse."""
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch in "'`":
            i += 1
            while i < n and expr[i] != ch:
                i += 2 if expr[i] == "\\" else 1
        elif expr.startswith("//", i):
            end = expr.find("\n", i)
            i = n if end < 0 else end
        elif expr.startswith("/*", i):
            end = expr.find("*/", i + 2)
            i = n if end < 0 else end + 1
        elif ch == '"':
            return i
        i += 1
    return None


# --- slicing -----------------------------------------------------------------------------


def _slices(sd: dict[str, Any]) -> list[tuple[str, str, str]]:
    """A snapshot lists every element in full, so a slice (an element with a sliceName)
    comes after an element of the same path carrying `slicing` (profiling.html#slicing: "the
    element that is sliced ... defines the slicing", followed by the slices). The differential
    may leave it out (extensions are sliced by url implicitly): only the snapshot is
    judged. A choice element's type slices need no set-up (type slicing is implied; the
    engine agrees: R4B familymemberhistory-genetic's born[x]:BornAge passes, its
    relationship:Relationship fails)."""
    found = []
    sliced: set[str] = set()
    for i, elem in _elements(sd, "snapshot"):
        path = elem.get("path")
        if not isinstance(path, str):
            continue
        if isinstance(elem.get("slicing"), dict):
            sliced.add(path)
        elif isinstance(elem.get("sliceName"), str) and path not in sliced \
                and not path.endswith("[x]"):
            found.append((f"snapshot.element[{i}]",
                          f"{elem.get('id', path)!r} is a slice of {path}, but no element "
                          f"before it sets up slicing on {path}", "slicing-setup"))
    return found


_NAMES = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*")


def _discriminators(sd: dict[str, Any], defs: Definitions) -> list[tuple[str, str, str]]:
    """A discriminator's path is a FHIRPath from the sliced element to the value it tells
    slices apart by (profiling.html#discriminator). Judged when it is a plain chain of names
    (no function, no `$this`) and the sliced element is one of the base type's: each name is
    a child of the element before it (a choice element without its [x])."""
    type_name = sd.get("type")
    base = defs.structure(type_name) if isinstance(type_name, str) else None
    if base is None or base.kind == "logical":
        return []
    found = []
    for part in ("snapshot", "differential"):
        for i, elem in _elements(sd, part):
            slicing, path = elem.get("slicing"), elem.get("path")
            discriminators = slicing.get("discriminator") if isinstance(slicing, dict) else None
            if not isinstance(discriminators, list) or not isinstance(path, str):
                continue
            start = _resolve(path, base, defs)
            if start is None:
                continue
            for j, d in enumerate(discriminators):
                dpath = d.get("path") if isinstance(d, dict) else None
                if not isinstance(dpath, str) or not _NAMES.fullmatch(dpath):
                    continue
                missing = _fhirpath_names(dpath, *start, defs)
                if missing is not None:
                    found.append((
                        f"{part}.element[{i}].slicing.discriminator[{j}].path",
                        f"discriminator path {dpath!r}: {path} has no element {missing!r} "
                        "there (the path starts at the sliced element)", "discriminator-path"))
    return found


def _fhirpath_names(dpath: str, struct: StructureDef, at: str, defs: Definitions) -> \
        str | None:
    """The first name of a FHIRPath chain that is no child where it stands, or None (all
    found, or the definitions cannot tell: several types, an abstract type)."""
    for name in dpath.split("."):
        kids = struct.children(at)
        elem = kids.get(name) or kids.get(f"{name}[x]")
        if elem is None:
            return name
        step = _into(elem, struct, defs)
        if step is None:
            return None
        struct, at = step
        if struct.abstract:
            return None
    return None


def _resolve(path: str, base: StructureDef, defs: Definitions) -> \
        tuple[StructureDef, str] | None:
    """Where the children of the element at an ElementDefinition.path are defined, or None
    when the definitions cannot tell."""
    parts = path.split(".")
    if parts[0] != base.type:
        return None
    struct, at = base, base.type
    for name in parts[1:]:
        elem = struct.children(at).get(name)
        step = None if elem is None else _into(elem, struct, defs)
        if step is None:
            return None
        struct, at = step
    return struct, at


# --- differential paths ------------------------------------------------------------------


def _paths(sd: dict[str, Any], defs: Definitions) -> list[tuple[str, str, str]]:
    """A differential element's path against the type it constrains. Only what the
    definitions answer for certain is judged: a path past a name they do not know (an unknown
    element, a path into a logical model) is left alone."""
    type_name = sd.get("type")
    if sd.get("derivation") != "constraint" or not isinstance(type_name, str):
        return []
    base = defs.structure(type_name)
    if base is None or base.kind == "logical":
        return []
    found = []
    for i, elem in _elements(sd, "differential"):
        path = elem.get("path")
        if not isinstance(path, str):
            continue
        choice = _plain_choice(path, base, defs)
        if choice is not None:
            name = choice.name[:-3]
            typed = name + _upper(choice.types[0]) if choice.types else name + "String"
            found.append((
                f"differential.element[{i}].path",
                f"path {path!r} names the choice element {choice.path} without [x]: write "
                f"{name}[x], or a type-specific name such as {typed} (a choice element's "
                "path ends in [x]: ElementDefinition.path, profiling.html#choice)",
                "differential-path"))
    return found


def _plain_choice(path: str, base: StructureDef, defs: Definitions) -> ElementDef | None:
    """The choice element the path writes without [x] and without a type, or None."""
    parts = path.split(".")
    if parts[0] != base.type:
        return None
    struct, at = base, base.type
    for name in parts[1:]:
        kids = struct.children(at)
        elem = kids.get(name)
        if elem is None:
            choice = kids.get(f"{name}[x]")
            if choice is not None:
                return choice
            typed = _renamed(kids, name)
            if typed is None:
                return None
            elem, type_code = typed
            step = _into_type(type_code, defs)
            if step is None:
                return None
            struct, at = step
            continue
        step = _into(elem, struct, defs)
        if step is None:
            return None
        struct, at = step
    return None


def _renamed(kids: Any, name: str) -> tuple[ElementDef, str] | None:
    """A choice element renamed to one of its types: valueQuantity -> (value[x], Quantity)."""
    for key, elem in kids.items():
        if key.endswith("[x]") and name.startswith(key[:-3]):
            suffix = name[len(key) - 3:]
            for t in elem.types:
                if _upper(t) == suffix:
                    return elem, t
    return None


def _into(elem: ElementDef, struct: StructureDef, defs: Definitions) -> \
        tuple[StructureDef, str] | None:
    """Where an element's children are defined: the same structure for a backbone element or
    a content reference, the type's own structure for a single-typed element."""
    if elem.content_reference:
        return struct, elem.content_reference.split("#", 1)[-1]
    if struct.children(elem.path):
        return struct, elem.path
    if len(elem.types) == 1:
        return _into_type(elem.types[0], defs)
    return None


def _into_type(type_code: str, defs: Definitions) -> tuple[StructureDef, str] | None:
    found = defs.structure(type_code)
    return None if found is None else (found, found.type)


def _upper(type_code: str) -> str:
    return type_code[:1].upper() + type_code[1:]
