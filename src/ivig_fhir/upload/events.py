"""Progress events the upload reports through a callback; the CLI decides how to show them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preflighted:
    server: str
    fhir_version: str
    software: str
    warnings: tuple[str, ...] = ()  # where the server contradicts the chosen profile


@dataclass(frozen=True)
class Compared:
    """Compare before write: of `total` resources the server held `held`, `unchanged` of them
    equal to the export (not sent); reading took `requests` requests."""

    total: int
    held: int
    unchanged: int
    requests: int


@dataclass(frozen=True)
class Withdrawn:
    """A resource of ours on the server that the export no longer contains, and what is done
    with it (`retire`, `delete`, or `keep` with the reason)."""

    server_key: str
    label: str
    action: str
    reason: str = ""


@dataclass(frozen=True)
class ChunkStarted:
    index: int
    total: int
    entries: int


@dataclass(frozen=True)
class ChunkLanded:
    index: int
    total: int
    entries: int
    created: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class Retrying:
    what: str  # e.g. "chunk 3/12"
    retry: int
    wait: float
    reason: str


@dataclass(frozen=True)
class Read:
    """Verification read `count` resources back."""

    count: int
    total: int


Event = Preflighted | Compared | Withdrawn | ChunkStarted | ChunkLanded | Retrying | Read
