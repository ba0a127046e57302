"""The worker's build: the log template miner's hot modules compiled to C extensions by mypyc.

Mining a new message runs in these modules' Python (masking its new tokens, searching and creating clusters);
compiled, the same source mines Mac's 2k Loghub lines about 1.4 times faster with the same output. An editable
install (scripts/lib/setup.sh, the worker image) writes each extension beside its source, where Python imports
it before the .py; without one the .py runs as it is. After editing one of these modules rebuild with
``.venv/bin/pip install --no-deps --no-build-isolation -e services/worker`` (setup.sh does when they changed):
``aiops_worker/logs/__init__.py`` refuses an extension older than its source, so a stale build never runs.

mypyc compiles from the type annotations and checks them at run time, so these modules must be type-clean
under every mypy error code (the repository's mypy settings say so for them, and its type check runs them).
The build itself has only setuptools and mypy: what the modules import from other packages (the shared
contracts' ``without_nul``) is an untyped Python call to it there.
"""

from mypyc.build import mypycify
from setuptools import setup

COMPILED = ["aiops_worker/logs/mining.py", "aiops_worker/logs/candidates.py", "aiops_worker/logs/masking.py",
            "aiops_worker/logs/similarity.py"]

setup(ext_modules=mypycify(["--ignore-missing-imports", *COMPILED], group_name="aiops_worker.logs.miner"),
      # Always relink, so that a rebuilt extension is newer than its source (what __init__.py checks).
      options={"build_ext": {"force": True}})
