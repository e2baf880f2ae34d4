"""Rules of the FHIR specification that no StructureDefinition states as a constraint, checked
on the walk's nodes. Layer `structure`.

- base64Binary: decodes (the definitions' regex only checks the alphabet);
- canonical: does not end in `|` (a version separator with no version);
- Attachment: `size` is the length of the decoded `data`, `hash` its SHA-1 (base64);
- contained: ids unique within the resource; one work group extension per resource;
- HL7 work groups: a resource in HL7's namespace naming its work group
  (structuredefinition-wg) names a known one, and a publisher written as "X / Y" is
  "HL7 International / <the group's name>" (as the engine: an error, a warning if the
  publisher has no "/");
- ImplementationGuide published by HL7 (url under http://hl7.org/fhir/): states its standards
  status and work group in their extensions;
- StructureDefinition: a `canonical` element's targetProfile names a canonical resource
  type (as the engine lists them, `_CANONICAL_TYPES`), not e.g. MedicinalProductDefinition;
- ValueSet: compose.include/exclude.system is an absolute URI (a contained one too);
- ConceptMap: source and target codes exist in their FHIR code systems (where the extract
  holds them);
- narrative: `#` links and image sources point at an anchor in the narrative, a contained
  resource or an element id (an error, as in the engine);
- meta.profile: the base type itself is checked throughout; a core profile of the version
  (shareablecodesystem, vitalsigns, ...) for its stricter cardinality and the invariants it
  adds (layer `invariant`), and said so; a profile
  in HL7's namespace that the version does not define is an error (as in the engine); so is
  any other profile, not available offline (nothing was verified against it; the engine cannot
  find it either and says so as an error).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from ivig_fhir.definitions import Definitions, ProfileDef
from ivig_fhir.problems import Problem, Severity

from . import _fhirpath
from ._walk import Node, Walk

LAYER = "structure"
_SPACE = re.compile(r"\s+")
# In an Attachment only line breaks (MIME-style base64) are dropped before decoding: the HL7
# engine decodes Attachment.data itself and rejects a space ("Illegal base64 character 20", R4B
# Media-example), while a base64Binary elsewhere may hold any whitespace (R4B Binary-example).
_LINE_BREAKS = re.compile(r"[\r\n]+")
_CORE = "http://hl7.org/fhir/StructureDefinition/"
_WG = _CORE + "structuredefinition-wg"
# HL7's work groups by the code of the structuredefinition-wg extension, as the HL7 engine
# (org.hl7.fhir.utilities.HL7WorkGroups, 6.7.9) knows them; a second accepted name after it.
_WORK_GROUPS: Mapping[str, tuple[str, ...]] = {
    "aid": ("Application Implementation and Design",), "arden": ("Arden Syntax",),
    "brr": ("Biomedical Research and Regulation",),
    "cbcc": ("Community Based Collaborative Care",), "cdamg": ("CDA Management Group",),
    "cds": ("Clinical Decision Support",), "cg": ("Clinical Genomics",),
    "cgp": ("Cross-Group Projects",), "cic": ("Clinical Interoperability Council",),
    "cimi": ("Clinical Information Modeling Initiative",),
    "claims": ("Payer/Provider Information Exchange Work Group",),
    "cqi": ("Clinical Quality Information",), "dev": ("Health Care Devices",),
    "ehr": ("Electronic Health Records",), "ec": ("Emergency Care",),
    "fhir": ("FHIR Infrastructure",), "fmg": ("FHIR Management Group",),
    "fm": ("Financial Management",), "hsi": ("Health Standards Integration",),
    "hsswg": ("Human and Social Services",), "hta": ("Terminology Authority",),
    "ictc": ("Conformance",), "ii": ("Imaging Integration",),
    "inm": ("Infrastructure And Messaging",),
    "its": ("Implementable Technology Specifications",), "lhs": ("Learning Health Systems",),
    "mnm": ("Modeling and Methodology",), "mobile": ("Mobile Health",),
    "oo": ("Orders and Observations",), "pa": ("Patient Administration",),
    "pe": ("Patient Empowerment",), "pc": ("Patient Care",), "pher": ("Public Health",),
    "phx": ("Pharmacy",), "sd": ("Structured Documents",), "sec": ("Security",),
    "soa": ("Services Oriented Architecture",),
    "ti": ("Terminology Infrastructure", "Vocabulary"),
    "tsmg": ("Terminology Services Management Group (TSMG)",),
    "us": ("US Realm Steering Committee",), "v2": ("V2 Management Group",),
    "vocab": ("Terminology Infrastructure", "Vocabulary"),
}
_HL7_URLS = ("http://hl7.org/fhir/", "http://terminology.hl7.org/")
_LOCAL_HREF = re.compile(r"""href\s*=\s*["']#([^"']+)["']""")
_ANCHOR = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_LOCAL_IMG = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*["']#([^"']+)["']""")
# The types the HL7 engine counts as canonical resources, per version (its
# VersionUtilities.getCanonicalResourceNames): a canonical's targetProfile must name one of them
# (or Resource; R5 also CanonicalResource). Not simply "has url and version": R5
# ClinicalUseDefinition has neither and is listed (R5 StructureDefinition-NutritionIntake
# passes the engine); Contract, Device and Composition have both and are not.
_DEFINITIONAL = ("ActivityDefinition", "CapabilityStatement", "ChargeItemDefinition",
                 "CodeSystem", "CompartmentDefinition", "ConceptMap", "EventDefinition",
                 "Evidence", "EvidenceVariable", "ExampleScenario", "GraphDefinition",
                 "ImplementationGuide", "Library", "Measure", "MessageDefinition", "NamingSystem",
                 "OperationDefinition", "PlanDefinition", "Questionnaire", "SearchParameter",
                 "StructureDefinition", "StructureMap", "TerminologyCapabilities", "TestScript",
                 "ValueSet")
_CANONICAL_TYPES: Mapping[str, frozenset[str]] = {
    "r4": frozenset((*_DEFINITIONAL, "EffectEvidenceSynthesis", "ResearchDefinition",
                     "ResearchElementDefinition", "RiskEvidenceSynthesis")),
    "r4b": frozenset((*_DEFINITIONAL, "Citation", "EvidenceReport", "ResearchDefinition",
                      "ResearchElementDefinition", "SpecimenDefinition", "SubscriptionTopic")),
    "r5": frozenset((*_DEFINITIONAL, "ActorDefinition", "CanonicalResource", "Citation",
                     "ClinicalUseDefinition", "ConditionDefinition", "EvidenceReport",
                     "ObservationDefinition", "Requirements", "SpecimenDefinition",
                     "SubscriptionTopic", "TestPlan")),
}


def _decode(text: str, spaces: re.Pattern[str] = _SPACE) -> bytes | None:
    try:
        return base64.b64decode(spaces.sub("", text), validate=True)
    except (binascii.Error, ValueError):
        return None


class _Rules:
    def __init__(self, defs: Definitions, file: str, line: int | None) -> None:
        self.defs = defs
        self.file = file
        self.line = line
        self.out: list[Problem] = []

    def problem(self, loc: str, message: str, code: str, severity: Severity = "error",
                layer: str = LAYER) -> None:
        self.out.append(Problem(self.file, self.line, None, loc, message, severity,
                                layer, code))

    def links(self, node: Node) -> None:
        """`<a href="#x">` in a narrative points at an id or name in it, or at the id of a
        contained resource or of any element of the resource. An error, as in the HL7 engine
        (Type_Specific_Checks_DT_XHTML_Resolve is a rule there)."""
        div = node.value
        targets = set(_ANCHOR.findall(div))
        _ids(node.resource, targets)
        for href in sorted(set(_LOCAL_HREF.findall(div)) - targets):
            self.problem(node.loc, f"narrative link #{href} points at nothing in the narrative "
                         "or the resource", "narrative-link", "error", "narrative")
        # An image's local source as well (R5 DocumentReference-sound: `<img src="#11">` with
        # nothing contained; the engine: "Image source '#11' ... does not resolve").
        for src in sorted(set(_LOCAL_IMG.findall(div)) - targets):
            self.problem(node.loc, f"narrative image source #{src} points at nothing in the "
                         "narrative or the resource", "narrative-link", "error", "narrative")

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
        if _decode(data, _LINE_BREAKS) is None:
            self.problem(f"{node.loc}.data", "not valid base64 in an Attachment: only line "
                         "breaks may separate its characters", "invalid-base64")
            return
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
        if node.type == "ConceptMap":
            self.concept_map(node)
        if node.type == "ValueSet":
            self.value_set_systems(node)
        wgs = [e for e in _items(res.get("extension"))
               if isinstance(e, dict) and e.get("url") == _WG]
        if len(wgs) > 1:
            self.problem(f"{node.loc}.extension", f"{len(wgs)} workgroup extensions ({_WG}): a "
                         "resource has one responsible work group", "extension-cardinality")
        elif wgs and isinstance(res.get("url"), str) and res["url"].startswith(_HL7_URLS):
            self.work_group(node, wgs[0].get("valueCode"))
        if node.type == "StructureDefinition":
            self.canonical_targets(node)
        if (node.type == "ImplementationGuide" and isinstance(res.get("url"), str)
                and res["url"].startswith("http://hl7.org/fhir/")):
            self.hl7_guide(node)
        meta = res.get("meta")
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        for i, url in enumerate(profiles if isinstance(profiles, list) else ()):
            if not isinstance(url, str):
                continue
            base = url.split("|", 1)[0]
            if base == _CORE + node.type:
                continue  # the base definition: checked throughout
            profile = self.defs.profiles.get(base)
            if profile is not None and profile.type == node.type:
                self.profile_cardinality(node, profile.url, profile.cardinality)
                self.profile_invariants(node, profile)
                self.problem(f"{node.loc}.meta.profile[{i}]", f"profile {url}: only its "
                             "cardinality and invariants were checked (not its slices or fixed "
                             "values)", "profile-partly-checked", "information")
                continue
            if base.startswith(_CORE) and self.defs.structure(base[len(_CORE):]) is None:
                # HL7's own namespace, and the version defines no such profile (the engine
                # cannot find it either, and says so as an error).
                self.problem(f"{node.loc}.meta.profile[{i}]", f"profile {url} is not defined "
                             f"by FHIR {self.defs.fhir_version}: nothing was checked against "
                             "it", "profile-unknown")
                continue
            # An error, as in the engine ("Profile reference ... has not been checked because
            # it could not be found", R5 Location-wash-dc-metro, Observation-krcore-...): the
            # resource claims a conformance nobody verified.
            self.problem(f"{node.loc}.meta.profile[{i}]", f"profile {url} is not available "
                         "offline: the resource was checked against the base "
                         f"{node.type} definition only", "profile-not-checked")


    def hl7_guide(self, node: Node) -> None:
        """An implementation guide HL7 publishes (url under http://hl7.org/fhir/) states its
        standards status and its work group in extensions, as the engine requires."""
        have = {e.get("url") for e in _items(node.value.get("extension")) if isinstance(e, dict)}
        for url, what in ((_CORE + "structuredefinition-standards-status", "standards status"),
                          (_WG, "owning work group")):
            if url not in have:
                self.problem(node.loc, f"an HL7 implementation guide states its {what} in the "
                             f"extension {url}", "hl7-guide-extension")

    def work_group(self, node: Node, code: Any) -> None:
        if not isinstance(code, str):
            return
        names = _WORK_GROUPS.get(code)
        if names is None:
            self.problem(f"{node.loc}.extension", f"work group {code!r} (extension {_WG}) is "
                         "not an HL7 work group", "work-group-unknown")
            return
        publisher = node.value.get("publisher")
        expected = [f"HL7 International / {n}" for n in names]
        if isinstance(publisher, str) and publisher not in expected:
            # The engine insists only where the publisher already has the "X / Y" form.
            self.problem(f"{node.loc}.publisher", f"work group {code!r} means the publisher "
                         f"is {expected[0]!r}, not {publisher!r}", "work-group-publisher",
                         "error" if "/" in publisher else "warning")

    def canonical_targets(self, node: Node) -> None:
        for part in ("snapshot", "differential"):
            holder = node.value.get(part)
            elements = holder.get("element") if isinstance(holder, dict) else None
            for i, e in enumerate(elements if isinstance(elements, list) else ()):
                for j, t in enumerate(_items(e.get("type")) if isinstance(e, dict) else ()):
                    if not isinstance(t, dict) or t.get("code") != "canonical":
                        continue
                    for k, url in enumerate(_items(t.get("targetProfile"))):
                        target = (self.defs.structure(url[len(_CORE):])
                                  if isinstance(url, str) and url.startswith(_CORE) else None)
                        if (target is None or target.kind != "resource"
                                or target.type in _CANONICAL_TYPES.get(self.defs.version, ())
                                or target.abstract):
                            continue
                        self.problem(f"{node.loc}.{part}.element[{i}].type[{j}]"
                                     f".targetProfile[{k}]", f"{url} is not a canonical "
                                     f"resource: a canonical can only point at one",
                                     "canonical-target")

    def value_set_systems(self, node: Node) -> None:
        """A ValueSet's compose names each code system by an absolute URI: a bare name
        ('sample-security-structural-roles', R5 ValueSet-security-role-type) identifies nothing;
        an error, as in the HL7 engine."""
        compose = node.value.get("compose")
        for part in ("include", "exclude"):
            items = compose.get(part) if isinstance(compose, dict) else None
            for i, item in enumerate(_items(items)):
                system = item.get("system") if isinstance(item, dict) else None
                # '#id' too (R4B ValueSet-example-hierarchical): the definition asks for "an
                # absolute URI"; a contained CodeSystem is named by its url, and the
                # valueset-system extension points at it (the engine says the same).
                if isinstance(system, str) and not _SCHEME.match(system):
                    self.problem(f"{node.loc}.compose.{part}[{i}].system", f"code system "
                                 f"{system!r} is not an absolute URI (http://..., urn:...); "
                                 "a contained CodeSystem is named by its url, with the "
                                 "extension valueset-system pointing at it", "invalid-system")

    def concept_map(self, node: Node) -> None:
        """A ConceptMap's source and target codes exist in their code systems, where those are
        FHIR code systems the extract holds."""
        for g, group in enumerate(_items(node.value.get("group"))):
            if not isinstance(group, dict):
                continue
            source = self._system(group.get("source"))
            target = self._system(group.get("target"))
            for e, element in enumerate(_items(group.get("element"))):
                if not isinstance(element, dict):
                    continue
                loc = f"{node.loc}.group[{g}].element[{e}]"
                self._known(f"{loc}.code", element.get("code"), source, "source")
                for t, tgt in enumerate(_items(element.get("target"))):
                    if isinstance(tgt, dict):
                        self._known(f"{loc}.target[{t}].code", tgt.get("code"), target, "target")

    def _system(self, url: Any) -> tuple[str, Mapping[str, str]] | None:
        if not isinstance(url, str):
            return None
        cs = self.defs.code_system(url)
        return (cs.url, cs.concepts) if cs is not None else None

    def _known(self, loc: str, code: Any, system: tuple[str, Mapping[str, str]] | None,
               side: str) -> None:
        if system is not None and isinstance(code, str) and code not in system[1]:
            self.problem(loc, f"the {side} code {code!r} is not defined in the code system "
                         f"{system[0]}", "code-invalid")

    def profile_invariants(self, node: Node, profile: ProfileDef) -> None:
        """The constraints a core profile adds (shareablecodesystem's scs-1: nested concepts
        need a hierarchyMeaning), held against a resource claiming the profile, as the engine
        does (R5 CodeSystem-fhir-types)."""
        name = profile.url.rsplit("/", 1)[-1]
        for inv in profile.invariants:
            parts = inv.path.split(".")[1:]
            if any("[x]" in part for part in parts):
                continue  # on a choice of types: the value's own type is the context, not kept
            targets: list[Any] = [node.value]
            for part in parts:
                targets = [c for t in targets for c in _items(t.get(part))
                           if isinstance(c, dict)]
            for target in targets:
                try:
                    result = _fhirpath.evaluate(
                        inv.expression, target, inv.path if parts else node.fp_base,
                        resource=node.resource, root=node.root, version=self.defs.version)
                except Exception:  # noqa: S112 - an expression fhirpathpy cannot run decides nothing
                    continue
                if result and result != [True]:
                    self.problem(f"{node.loc}{'.' if parts else ''}{'.'.join(parts)}",
                                 f"{inv.key}: {inv.human} (profile {name})", inv.key,
                                 "warning" if inv.severity == "warning" else "error",
                                 "invariant")

    def profile_cardinality(self, node: Node, url: str,
                            rules: Mapping[str, tuple[int, str]]) -> None:
        name = url.rsplit("/", 1)[-1]
        for path, (low, high) in sorted(rules.items()):
            parts = path.split(".")[1:]
            if any("[x]" in part for part in parts[:-1]):
                continue  # inside a choice of types: not followed here
            parents: list[Any] = [node.value]
            for part in parts[:-1]:
                parents = [c for p in parents for c in _items(p.get(part))
                           if isinstance(c, dict)]
            last = parts[-1]
            for parent in parents:
                if last.endswith("[x]"):
                    stem = last[:-3]
                    n = sum(1 for k in parent if k.lstrip("_").startswith(stem)
                            and k.lstrip("_")[len(stem):][:1].isupper())
                else:
                    n = len(_items(parent.get(last))) or (1 if "_" + last in parent else 0)
                if n < low:
                    self.problem(f"{node.loc}.{'.'.join(parts).replace('[x]', '')}",
                                 f"{path}: minimum required "
                                 f"= {low} by profile {name}, but found {n}", "profile-cardinality")
                elif high == "0" and n:
                    self.problem(f"{node.loc}.{'.'.join(parts)}", f"{path} is not allowed by "
                                 f"profile {name}", "profile-cardinality")


def _ids(v: Any, out: set[str]) -> None:
    """Every `id` in a resource (its elements' and its contained resources')."""
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "id" and isinstance(x, str):
                out.add(x)
            elif isinstance(x, (dict, list)):
                _ids(x, out)
    elif isinstance(v, list):
        for x in v:
            _ids(x, out)


def _items(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [] if v is None else [v]


def check(walk: Walk, defs: Definitions, *, file: str, line: int | None = None) -> list[Problem]:
    rules = _Rules(defs, file, line)
    for node in walk.nodes:
        if node.is_primitive:
            rules.primitive(node)
            if node.type == "xhtml" and isinstance(node.value, str):
                rules.links(node)
        elif node.is_resource:
            rules.resource(node)
        elif node.type == "Attachment" and isinstance(node.value, dict):
            rules.attachment(node)
    return rules.out
