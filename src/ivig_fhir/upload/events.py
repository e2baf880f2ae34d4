"""Progress events the upload reports through a callback; the CLI decides how to show them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preflighted:
    server: str
    fhir_version: str
    software: str


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


Event = Preflighted | ChunkStarted | ChunkLanded | Retrying | Read
