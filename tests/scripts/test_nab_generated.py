"""scripts/bench/nab_generated.py writes the same NAB-layout corpus for the same seed, with windows that the NAB
scorer can place (every bound is a timestamp of its file), that do not overlap, and none in the anomaly-free
category."""

import csv
import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench"


def load_bench():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("nab_generated", BENCH / "nab_generated.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_corpus_is_seeded_and_its_windows_fit_nab_scoring(tmp_path: Path) -> None:
    bench = load_bench()
    windows = bench.generate(tmp_path / "a", seed=0)
    assert bench.generate(tmp_path / "b", seed=0) == windows
    assert json.loads((tmp_path / "a" / "labels" / "combined_windows.json").read_text()) == windows
    same = tmp_path / "a" / "data" / "genCounts" / "genCounts_0.csv"
    assert same.read_text() == (tmp_path / "b" / "data" / "genCounts" / "genCounts_0.csv").read_text()
    assert len(windows) == len(bench.CATEGORIES) * bench.FILES_PER_CATEGORY
    for rel, limits in windows.items():
        with (tmp_path / "a" / "data" / rel).open() as fh:
            stamps = [row["timestamp"] for row in csv.DictReader(fh)]
        assert len(stamps) == bench.POINTS
        ranges = bench.nab.window_index_ranges(stamps, [tuple(w) for w in limits])  # KeyError if not a row
        assert all(right < left for (_, right), (left, _) in zip(ranges, ranges[1:])), rel
        assert (not ranges) == rel.startswith("genNoAnomaly/"), rel
