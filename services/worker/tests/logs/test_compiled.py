"""The miner's hot modules run as compiled by services/worker/setup.py, and a stale build is refused."""

import importlib
import shutil
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from aiops_worker.logs import mining
from aiops_worker.logs.miner_build import COMPILED, STAMP, refuse_stale_extensions, source_digests, write_stamp


@pytest.mark.parametrize("source", COMPILED)  # the build's own list (setup.py compiles these)
def test_the_miner_runs_compiled(source: str) -> None:
    module = importlib.import_module(f"aiops_worker.logs.{source.removesuffix('.py')}")
    assert str(module.__file__).endswith(tuple(EXTENSION_SUFFIXES)), (
        f"{module.__name__} runs from its source: build it with "
        "`.venv/bin/pip install --no-deps --no-build-isolation -e services/worker`")


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A folder holding the compiled sources, an (empty) extension of each and their stamp."""
    for name in COMPILED:
        shutil.copy(Path(mining.__file__).with_name(name), tmp_path / name)
        (tmp_path / (name.removesuffix(".py") + EXTENSION_SUFFIXES[0])).write_bytes(b"")
    write_stamp(tmp_path, source_digests(tmp_path))
    return tmp_path


def test_a_build_whose_stamp_matches_its_sources_is_accepted(built: Path) -> None:
    (built / "masking.py").touch()  # a newer file time, the same content
    refuse_stale_extensions(built)


def test_an_edited_source_is_refused(built: Path) -> None:
    with (built / "masking.py").open("a") as source:
        source.write("\n")
    with pytest.raises(ImportError, match=r"masking\.py changed since its extension was built: rebuild it"):
        refuse_stale_extensions(built)


def test_extensions_without_a_stamp_are_refused(built: Path) -> None:
    (built / STAMP).unlink()
    with pytest.raises(ImportError, match=f"no {STAMP}"):
        refuse_stale_extensions(built)


def test_sources_without_extensions_run_as_they_are(built: Path) -> None:
    (built / STAMP).unlink()
    (built / "similarity.py").write_text("")
    for extension in built.glob(f"*{EXTENSION_SUFFIXES[0]}"):
        extension.unlink()
    refuse_stale_extensions(built)
