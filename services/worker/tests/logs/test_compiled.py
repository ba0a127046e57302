"""The miner's hot modules run as compiled by services/worker/setup.py, and a stale extension is refused."""

import os
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType

import pytest

from aiops_worker.logs import candidates, masking, mining, refuse_stale_extensions, similarity


@pytest.mark.parametrize("module", [mining, candidates, masking, similarity], ids=lambda module: module.__name__)
def test_the_miner_runs_compiled(module: ModuleType) -> None:
    assert str(module.__file__).endswith(tuple(EXTENSION_SUFFIXES)), (
        f"{module.__name__} runs from its source: build it with "
        "`.venv/bin/pip install --no-deps --no-build-isolation -e services/worker`")


def test_an_extension_older_than_its_source_is_refused(tmp_path: Path) -> None:
    source, extension = tmp_path / "miner.py", tmp_path / f"miner{EXTENSION_SUFFIXES[0]}"
    source.write_text("")
    extension.write_bytes(b"")
    os.utime(source, (1000, 1000))
    os.utime(extension, (2000, 2000))
    refuse_stale_extensions(tmp_path)  # built after its source was last written
    os.utime(source, (3000, 3000))
    with pytest.raises(ImportError, match="older than miner.py: rebuild it"):
        refuse_stale_extensions(tmp_path)
