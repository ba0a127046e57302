"""Which sources the compiled miner was built from: the build stamp, and the check that refuses a stale build.

``services/worker/setup.py`` compiles ``COMPILED`` with mypyc and writes ``STAMP`` beside them: the sha256 of
each source exactly as mypyc read it. A build matches its sources when their content still hashes to the stamp;
file times say nothing here (a wheel install, a copy or an edit during the build reorders them).
This module uses only the standard library: setup.py loads it by path, before the package can be imported.
"""

import hashlib
import json
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

COMPILED = ("mining.py", "bound.py", "candidates.py", "masking.py", "similarity.py")
STAMP = "_miner_build.json"
REBUILD = "`.venv/bin/pip install --no-deps --no-build-isolation -e services/worker`"


def source_digests(folder: Path, names: tuple[str, ...] = COMPILED) -> dict[str, str]:
    """The sha256 (hex) of each source ``names`` of ``folder``."""
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in names}


def write_stamp(folder: Path, digests: dict[str, str]) -> None:
    """Record that ``folder``'s extensions are built from sources with these digests."""
    (folder / STAMP).write_text(json.dumps(digests, indent=2, sort_keys=True) + "\n")


def refuse_stale_extensions(folder: Path) -> None:
    """Raise ImportError when a source of ``folder`` has an extension but not the content its stamp records.

    With no extension present the sources run as they are, stamp or not.
    """
    built = tuple(name for name in COMPILED
                  if any((folder / (name.removesuffix(".py") + suffix)).exists() for suffix in EXTENSION_SUFFIXES))
    if not built:
        return
    try:
        stamp = json.loads((folder / STAMP).read_text())
    except FileNotFoundError:
        raise ImportError(f"{folder} holds compiled modules but no {STAMP} saying what they were built from: "
                          f"rebuild them with {REBUILD}") from None
    for name, digest in source_digests(folder, built).items():
        if stamp.get(name) != digest:
            raise ImportError(f"{folder / name} changed since its extension was built: rebuild it with {REBUILD}")
