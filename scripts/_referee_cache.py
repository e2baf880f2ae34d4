"""The referee's verdicts, cached by what decides them (used by scripts/referee).

    python3 scripts/_referee_cache.py MODULE -- java ... -jar referee.jar [OPTIONS] FILE...

The HL7 engine takes minutes over the suite's files, and gives the same verdicts whenever the
same engine sees the same bytes with the same options. So a run is keyed by the referee
module's sources (its pom pins the engine and the core packages; its Java code decides the
rest), the options (the --xver-package by its content) and the content of every file in
order, never by the files' paths, which are temporary folders that differ each run. A hit
prints the stored verdicts with the files named as in this call, and says so on stderr; a miss
runs the engine and stores its answer when it exited 0. Entries are written to a temporary
file and renamed, so concurrent runs never see half of one; a cut or unreadable entry is a
miss.

Where: $IVIG_FHIR_CACHE/referee, else $XDG_CACHE_HOME/ivig-fhir/referee, else
~/.cache/ivig-fhir/referee (as the rest of ivig-fhir's cache).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

FLAGS = {"--isolate", "--no-preload", "--eager-core", "--pretty"}
VALUED = {"--fhir-version", "--xver-package"}


def _folder() -> Path:
    explicit = os.environ.get("IVIG_FHIR_CACHE")
    if explicit:
        return Path(explicit) / "referee"
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "ivig-fhir" / "referee"


def _digest(h: Any, data: bytes) -> None:
    h.update(len(data).to_bytes(8, "big"))
    h.update(data)


def _split(args: list[str]) -> tuple[list[tuple[str, str]], list[str]] | None:
    """(options, files) as the referee's Main reads them; None for a call not to cache
    (help, an unknown option, a missing value: the engine answers those itself)."""
    options: list[tuple[str, str]] = []
    files: list[str] = []
    rest = False
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=")
        if rest or not a.startswith("-") or a == "-":
            files.append(a)
        elif a == "--":
            rest = True
        elif a in FLAGS:
            options.append((a, ""))
        elif name in VALUED:
            if not eq:
                i += 1
                if i == len(args):
                    return None
                value = args[i]
            options.append((name, value))
        else:
            return None
        i += 1
    return options, files


def _key(module: Path, options: list[tuple[str, str]], files: list[str]) -> str | None:
    h = hashlib.sha256(b"ivig-fhir referee verdicts 1")
    for f in sorted([module / "pom.xml", *(module / "src").rglob("*")]):
        if f.is_file():
            _digest(h, str(f.relative_to(module)).encode())
            _digest(h, f.read_bytes())
    try:
        for name, value in options:
            _digest(h, name.encode())
            _digest(h, Path(value).read_bytes() if name == "--xver-package" else value.encode())
        for name in files:
            _digest(h, Path(name).read_bytes())
    except OSError:
        return None  # the engine says which file it cannot read, with its exit code
    return h.hexdigest()[:40]


def main(argv: list[str]) -> int:
    module = Path(argv[0])
    command = argv[argv.index("--") + 1:]
    split = _split(command[command.index("-jar") + 2:])
    key = _key(module, *split) if split else None
    if split is None or key is None:
        return subprocess.call(command)  # noqa: S603 - scripts/referee's own java command
    options, named = split
    files = list(dict.fromkeys(named))  # the engine reads a file named twice once
    entry = _folder() / f"{key}.json.gz"
    try:
        doc = json.loads(gzip.decompress(entry.read_bytes()))
    except (OSError, ValueError, EOFError):
        doc = None
    if doc is not None and len(doc.get("results", [])) == len(files):
        for result, name in zip(doc["results"], files, strict=True):
            result["file"] = name
        print(f"referee: the engine's verdicts on these {len(files)} file(s) come from the "
              f"cache ({entry}): same referee sources, options and file contents",
              file=sys.stderr)
        indent = 2 if ("--pretty", "") in options else None
        print(json.dumps(doc, ensure_ascii=False, indent=indent,
                         separators=None if indent else (",", ":")))
        return 0
    run = subprocess.run(command, stdout=subprocess.PIPE, check=False)  # noqa: S603
    sys.stdout.buffer.write(run.stdout)
    sys.stdout.flush()
    if run.returncode == 0:
        try:
            stored = json.loads(run.stdout)
            for i, result in enumerate(stored["results"]):
                result["file"] = i
            entry.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=entry.parent, delete=False,
                                             prefix=".tmp-") as tmp:
                tmp.write(gzip.compress(json.dumps(stored).encode(), mtime=0))
            os.replace(tmp.name, entry)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not stored: the verdicts were printed all the same
    return run.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
