"""A user cache for what does not change between runs: the definitions extract as parsed,
FHIRPath expressions as parsed, verdicts of the unit grammar.

An entry is one file, `<name>-<key>.marshal`, where the key is a hash of everything the value
is made from (the content of the input, the versions of the libraries that made it, the
Python that marshals it). A file holds the SHA-256 of its payload before the payload, so a
cut or corrupted entry is told from a sound one before it is read: it is ignored and rebuilt,
never trusted. Entries are written to a temporary file and renamed, so a reader (another
process of a pool, another run) sees the old entry or the new one, never half of one.

Where: $IVIG_FHIR_CACHE, else $XDG_CACHE_HOME/ivig-fhir, else ~/.cache/ivig-fhir (as the
ICD-10-CM table). Without a writable cache everything is simply built each run.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_MAGIC = b"ivig-fhir-cache 1\n"
_DIGEST = hashlib.sha256().digest_size


def folder() -> Path:
    explicit = os.environ.get("IVIG_FHIR_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "ivig-fhir"


def key(*parts: str | bytes) -> str:
    """A cache key from the parts a value is made of (content, library versions); the Python
    implementation is always one of them, as marshal's format follows it."""
    h = hashlib.sha256(sys.implementation.cache_tag.encode())
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:32]


def path(name: str, cache_key: str) -> Path:
    return folder() / f"{name}-{cache_key}.marshal"


def read(name: str, cache_key: str) -> Any | None:
    """The value stored under (name, key), or None when there is none or it is not sound."""
    try:
        raw = path(name, cache_key).read_bytes()
    except OSError:
        return None
    head = len(_MAGIC) + _DIGEST
    if not raw.startswith(_MAGIC) or len(raw) < head:
        return None
    payload = raw[head:]
    if hashlib.sha256(payload).digest() != raw[len(_MAGIC):head]:
        return None
    try:
        return marshal.loads(payload)  # noqa: S302 - our own file, its digest checked above
    except (ValueError, EOFError, TypeError):
        return None


def write(name: str, cache_key: str, value: Any) -> None:
    """Store `value` (of marshal's types) atomically; a cache that cannot be written is
    skipped."""
    try:
        payload = marshal.dumps(value)
    except ValueError:
        return
    target = path(name, cache_key)
    temporary = ""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{name}-",
                                         delete=False) as tmp:
            temporary = tmp.name
            tmp.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
        os.replace(temporary, target)
    except OSError:
        if temporary:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def cached(name: str, cache_key: str, build: Callable[[], T],
           check: Callable[[Any], bool] = lambda _: True) -> T:
    """The value under (name, key) when sound and `check` accepts its shape, else `build()`,
    stored for the next run."""
    value = read(name, cache_key)
    if value is not None and check(value):
        return value  # type: ignore[no-any-return]
    built = build()
    write(name, cache_key, built)
    return built


def versions(*distributions: str) -> Iterable[str]:
    """`name==version` of installed distributions, as key parts."""
    from importlib import metadata

    for dist in distributions:
        try:
            yield f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            yield f"{dist}==?"
