"""Layer `narrative`: Narrative.div is well-formed XHTML that FHIR allows.

FHIR (Narrative, and the core validator's list) allows a `div` root in the XHTML namespace,
the basic HTML 4 formatting elements, `a` (href or name), `img` and style attributes; never
head/body, scripts, forms, frames, objects, event attributes (`on*`) or script URLs.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from typing import Any

from ivig_fhir.problems import Problem

LAYER = "narrative"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_NS = "{" + XHTML_NS + "}"

ALLOWED_ELEMENTS = frozenset(
    [
        "p",
        "br",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "a",
        "span",
        "b",
        "em",
        "i",
        "strong",
        "small",
        "big",
        "tt",
        "dfn",
        "q",
        "var",
        "abbr",
        "acronym",
        "cite",
        "blockquote",
        "hr",
        "address",
        "bdo",
        "kbd",
        "sub",
        "sup",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "pre",
        "table",
        "caption",
        "colgroup",
        "col",
        "thead",
        "tr",
        "tfoot",
        "tbody",
        "th",
        "td",
        "code",
        "samp",
        "img",
        "map",
        "area",
    ]
)
ALLOWED_ATTRIBUTES = frozenset(
    [
        "title",
        "style",
        "class",
        "id",
        "lang",
        "dir",
        "accesskey",
        "tabindex",
        "span",
        "width",
        "height",
        "align",
        "valign",
        "char",
        "charoff",
        "abbr",
        "axis",
        "headers",
        "scope",
        "rowspan",
        "colspan",
        "href",
        "name",
        "src",
        "alt",
        "longdesc",
        "usemap",
        "summary",
        "border",
        "frame",
        "rules",
        "cellspacing",
        "cellpadding",
        "start",
        "type",
        "value",
        "compact",
        "shape",
        "coords",
        "nohref",
        "datetime",
        "cite",
    ]
)
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_FORBIDDEN_HINT = {
    "script": "scripts are never allowed in a narrative",
    "iframe": "frames are never allowed in a narrative",
    "frame": "frames are never allowed in a narrative",
    "object": "objects are never allowed in a narrative",
    "embed": "embedded objects are never allowed in a narrative",
    "form": "forms are never allowed in a narrative",
    "input": "forms are never allowed in a narrative",
    "head": "a narrative has no head",
    "body": "a narrative has no body",
    "link": "external links to stylesheets are not allowed",
    "base": "base is not allowed",
    "style": "style elements are not allowed (style attributes are)",
}
_SCRIPT_URL = re.compile(r"^\s*(javascript|vbscript)\s*:", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def div_problems(div: str) -> tuple[tuple[str, str], ...]:
    return tuple(_div_problems(div))


def _div_problems(div: str) -> list[tuple[str, str]]:
    """(message, code) for everything wrong with one Narrative.div."""
    if re.search(r"<!(DOCTYPE|ENTITY)", div, re.IGNORECASE):
        return [("narrative must not declare a DOCTYPE or entities", "xhtml-doctype")]
    try:
        root = ET.fromstring(div)  # noqa: S314 - no DTD (checked above), so no entity expansion
    except ET.ParseError as e:
        return [(f"narrative div is not well-formed XHTML: {e}", "xhtml-malformed")]
    out: list[tuple[str, str]] = []
    if root.tag != _NS + "div":
        if root.tag.split("}")[-1] == "div":
            out.append(
                (
                    f'narrative div must be in the XHTML namespace: <div xmlns="{XHTML_NS}">',
                    "xhtml-namespace",
                )
            )
        else:
            out.append(
                (f"narrative must be a single <div>, not <{root.tag.split('}')[-1]}>", "xhtml-root")
            )
    has_content = False
    for el in root.iter():
        tag = el.tag
        if not isinstance(tag, str):
            continue
        ns, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
        if ns and ns != XHTML_NS:
            out.append(
                (
                    f"element <{local}> from namespace {ns} is not allowed in a narrative",
                    "xhtml-element",
                )
            )
        elif local not in ALLOWED_ELEMENTS:
            hint = _FORBIDDEN_HINT.get(local.lower(), "only basic HTML formatting is allowed")
            out.append((f"element <{local}> is not allowed: {hint}", "xhtml-element"))
        for attr, value in el.attrib.items():
            name = attr.split("}")[-1]
            if name.lower().startswith("on"):
                out.append(
                    (
                        f"event attribute {name}= on <{local}> is not allowed: no scripts in"
                        " a narrative",
                        "xhtml-event-attribute",
                    )
                )
            elif attr != _XML_LANG and (attr.startswith("{") or name not in ALLOWED_ATTRIBUTES):
                out.append(
                    (
                        f"attribute {name}= on <{local}> is not allowed in a narrative",
                        "xhtml-attribute",
                    )
                )
            if name in ("href", "src", "longdesc", "usemap", "cite") and _SCRIPT_URL.match(value):
                out.append(
                    (
                        f"{name}= on <{local}> is a script URL; not allowed in a narrative",
                        "xhtml-script-url",
                    )
                )
        if (
            (el.text and el.text.strip())
            or (el.tail and el.tail.strip() and el is not root)
            or local == "img"
        ):
            has_content = True
    if not has_content:
        out.append(("narrative div has no text content (txt-2)", "xhtml-empty"))
    return out


def check_div(value: Any, *, file: str, field: str, line: int | None = None) -> list[Problem]:
    if not isinstance(value, str):
        return []  # the structure layer reports a wrong JSON type
    return [
        Problem(file, line, None, field, message, "error", LAYER, code)
        for message, code in div_problems(value)
    ]
