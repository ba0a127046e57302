"""Log lines: headers, masking and template mining, failure rules, template store and the mining task.

The miner's hot modules may be compiled (C extensions that ``services/worker/setup.py`` writes beside their
sources, which Python imports before the .py). An extension whose source no longer has the content recorded at
its build (``miner_build.py``: sha256 of each source, not file times) was built from another version of it:
importing this package then fails, rather than running code that is not the source.
"""

from pathlib import Path

from aiops_worker.logs.miner_build import refuse_stale_extensions

refuse_stale_extensions(Path(__file__).parent)
