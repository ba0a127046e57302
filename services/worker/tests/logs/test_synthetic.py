"""Generalisation classes on generated lines (made-up vocabularies, fixed seed): GA per class."""

import importlib.util
from pathlib import Path

import pytest

from aiops_worker.logs.mining import TemplateMiner

# The tests run with --import-mode=importlib (no package, no sys.path entry): load the generator by path.
_SPEC = importlib.util.spec_from_file_location("synthetic_logs", Path(__file__).with_name("synthetic.py"))
synthetic = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(synthetic)
CLASSES, generate, grouping_accuracy = synthetic.CLASSES, synthetic.generate, synthetic.grouping_accuracy


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_each_variation_class_groups_its_events_exactly(name: str) -> None:
    lines, events = generate(name)
    miner = TemplateMiner()
    ids = [miner.add(line).template_id for line in lines]
    assert grouping_accuracy([miner.resolve(i) for i in ids], events) >= 0.99
    assert len(miner.templates()) == len(set(events))


def test_generator_is_deterministic() -> None:
    assert generate("hosts") == generate("hosts")
    assert generate("hosts")[0] != generate("hosts", seed=1)[0]
