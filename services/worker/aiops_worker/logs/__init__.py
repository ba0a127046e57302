"""Log lines: headers, masking and template mining, failure rules, template store and the mining task.

The miner's hot modules may be compiled (C extensions that ``services/worker/setup.py`` writes beside their
sources, which Python imports before the .py). An extension older than its source was built from an earlier
version of it: importing this package then fails, rather than running code that is not the source.
"""

from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path


def refuse_stale_extensions(folder: Path) -> None:
    """Raise ImportError when a module of ``folder`` has an extension older than its .py source."""
    for suffix in EXTENSION_SUFFIXES:
        for extension in folder.glob(f"*{suffix}"):
            source = extension.with_name(extension.name.removesuffix(suffix) + ".py")
            if source.exists() and source.stat().st_mtime > extension.stat().st_mtime:
                raise ImportError(f"{extension} is older than {source.name}: rebuild it with "
                                  "`.venv/bin/pip install --no-deps --no-build-isolation -e services/worker`")


refuse_stale_extensions(Path(__file__).parent)
