"""The worker's build: the log template miner's hot modules compiled to C extensions by mypyc.

Mining a new message runs in these modules' Python (masking its new tokens, searching and creating clusters);
compiled, the same source mines Mac's 2k Loghub lines about 1.4 times faster with the same output. An editable
install (scripts/lib/setup.sh, the worker image) writes each extension beside its source, where Python imports
it before the .py; without one the .py runs as it is. After editing one of these modules rebuild with
``.venv/bin/pip install --no-deps --no-build-isolation -e services/worker`` (setup.sh does when they changed):
it records the sha256 of each source as mypyc read it (``aiops_worker/logs/_miner_build.json``, see
``aiops_worker/logs/miner_build.py``) and ``aiops_worker/logs/__init__.py`` refuses an extension whose source's
content differs, so a stale build never runs (file times play no part: a wheel install or an image copy reorders
them, and an edit during the build would be older than the extension).

mypyc compiles from the type annotations and checks them at run time, so these modules must be type-clean
under every mypy error code (the repository's mypy settings say so for them, and its type check runs them).
The build itself has only setuptools and mypy: what the modules import from other packages (the shared
contracts' ``without_nul``) is an untyped Python call to it there.
"""

import importlib.util
from pathlib import Path

from mypyc.build import mypycify
from setuptools import setup

LOGS = Path("aiops_worker/logs")
# Loaded by path: importing the package would run its stale-build check against the build being replaced.
_spec = importlib.util.spec_from_file_location("miner_build", LOGS / "miner_build.py")
assert _spec is not None and _spec.loader is not None
miner_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(miner_build)

stamp = LOGS / miner_build.STAMP
stamp.unlink(missing_ok=True)  # until this build is done, the extensions it replaces are refused
digests = miner_build.source_digests(LOGS)
extensions = mypycify(["--ignore-missing-imports", *(str(LOGS / name) for name in miner_build.COMPILED)],
                      group_name="aiops_worker.logs.miner")
# mypyc has read the sources: the same content on both sides of it is the content it compiled.
if miner_build.source_digests(LOGS) != digests:
    raise SystemExit("a compiled source of aiops_worker/logs changed while mypyc read it: build again")
miner_build.write_stamp(LOGS, digests)  # before setup(): a wheel's build copies it with the package
try:
    setup(ext_modules=extensions)
except BaseException:
    stamp.unlink(missing_ok=True)
    raise
