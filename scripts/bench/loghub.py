#!/usr/bin/env python3
"""Loghub-2k benchmark of the worker's log template miner.

Usage: ``python scripts/bench/loghub.py --data /work/shared/bench-data/loghub [--only HDFS,Linux] [--errors N]``

For every ``<Name>/<Name>_2k.log`` in DIR the raw lines are split with the
``log_format`` of ``formats.json`` to get the message (Content), mined line by
line by the same ``TemplateMiner`` the worker uses (one configuration for all
data sets), and scored against ``<Name>_2k.log_structured_corrected.csv``:

* Grouping Accuracy (GA, logpai): a line is correct when the set of lines in its
  predicted group equals the set of lines sharing its ground-truth template. The
  predicted group of a line is the cluster id returned by ``add`` resolved through
  the miner's alias map (merged clusters) after all lines are processed.
* Parsing Accuracy (PA): a line is correct when the final template of its group
  equals its ground-truth template, both normalised with the Khan et al. (ICSE
  2022) correction rules (``correct_template``).
* lines/s: lines mined per second of ``time.perf_counter`` over the mining loop
  only (one core, no I/O).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "worker"))

from aiops_worker.logs.headers import log_format_regex  # noqa: E402
from aiops_worker.logs.mining import TemplateMiner  # noqa: E402

_PATH_DELIMS = r"\s,!;:=|\"'\[\](){}"
_PATH_SPLIT = re.compile(f"([{_PATH_DELIMS}])")
_TOKEN_SPLIT = re.compile(f"([{_PATH_DELIMS}.\\-+@#$%&])")
_PATH_LIKE = re.compile(r"^(/[^/]+)+$")
_DIGITS = re.compile(r"^\d+$")
_GLUED = re.compile(r"^[^\s/]*<\*>[^\s/]*$")
_FIXED_WORDS = {"true", "false", "null", "root", "admin"}


def correct_template(template: str) -> str:
    """Khan et al. correction rules, applied to predicted and ground-truth templates alike."""
    template = re.sub(r"\s+", " ", template.strip())
    template = "".join("<*>" if _PATH_LIKE.match(p) else p for p in _PATH_SPLIT.split(template))
    tokens = []
    for token in _TOKEN_SPLIT.split(template):
        if token.lower() in _FIXED_WORDS or _DIGITS.match(token):
            token = "<*>"
        elif _GLUED.match(token) and token != "<*>/<*>":
            token = "<*>"
        tokens.append(token)
    template = "".join(tokens)
    for pattern in ("<*>.<*>", "<*><*>"):
        while pattern in template:
            template = template.replace(pattern, "<*>")
    return template


@dataclass(frozen=True)
class Score:
    name: str
    ga: float
    pa: float
    lines_per_s: float
    templates: int
    truth_templates: int


def read_dataset(folder: Path, log_format: str) -> tuple[list[str], list[str]]:
    """Messages split from the raw log and their ground-truth templates, line-aligned."""
    name = folder.name
    _, regex = log_format_regex(log_format)
    messages = []
    with open(folder / f"{name}_2k.log", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = regex.match(line.rstrip("\r\n"))
            messages.append((match.group("Content") if match else line).strip())
    with open(folder / f"{name}_2k.log_structured_corrected.csv", encoding="utf-8") as handle:
        truth = [row["EventTemplate"] for row in csv.DictReader(handle)]
    if len(truth) != len(messages):
        raise ValueError(f"{name}: {len(messages)} log lines but {len(truth)} labels")
    return messages, truth


def grouping_accuracy(predicted: list[str], truth: list[str]) -> float:
    by_pred: dict[str, set[int]] = defaultdict(set)
    by_truth: dict[str, set[int]] = defaultdict(set)
    for index, (p, t) in enumerate(zip(predicted, truth)):
        by_pred[p].add(index)
        by_truth[t].add(index)
    correct = sum(len(lines) for lines in by_truth.values()
                  if by_pred[predicted[next(iter(lines))]] == lines)
    return correct / len(truth)


def evaluate(name: str, messages: list[str], truth: list[str], errors: int) -> Score:
    miner = TemplateMiner()
    start = time.perf_counter()
    ids = [miner.add(message).template_id for message in messages]
    elapsed = time.perf_counter() - start
    groups = [miner.resolve(cid) for cid in ids]
    templates = [miner.clusters[g].template for g in groups]
    pa_ok = [correct_template(p) == correct_template(t) for p, t in zip(templates, truth)]
    if errors:
        report_errors(messages, truth, groups, templates, pa_ok, errors)
    return Score(name, grouping_accuracy(groups, truth), sum(pa_ok) / len(truth),
                 len(messages) / elapsed, len(set(groups)), len(set(truth)))


def report_errors(messages: list[str], truth: list[str], groups: list[str], templates: list[str],
                  pa_ok: list[bool], limit: int) -> None:
    """Print the biggest wrongly grouped / wrongly templated truth templates (diagnostics)."""
    by_truth: dict[str, list[int]] = defaultdict(list)
    for index, t in enumerate(truth):
        by_truth[t].append(index)
    group_sizes = Counter(groups)
    rows = []
    for t, lines in by_truth.items():
        preds = Counter(groups[i] for i in lines)
        split = len(preds) > 1
        merged = any(group_sizes[g] != preds[g] for g in preds)
        bad_pa = sum(1 for i in lines if not pa_ok[i])
        if split or merged or bad_pa:
            rows.append((len(lines), t, preds, split, merged, bad_pa, lines))
    rows.sort(key=lambda r: -r[0])
    for size, t, preds, split, merged, bad_pa, lines in rows[:limit]:
        print(f"  [{size}] split={split} merged={merged} pa_bad={bad_pa}  GT: {t}")
        for g, _ in preds.most_common(3):
            i = next(i for i in lines if groups[i] == g)
            print(f"      pred({group_sizes[g]}): {templates[i]}\n        msg: {messages[i][:160]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--only", default="", help="comma-separated data set names")
    parser.add_argument("--errors", type=int, default=0, help="print N worst templates per set")
    args = parser.parse_args()
    formats = json.loads((args.data / "formats.json").read_text())
    names = [n for n in sorted(formats) if (args.data / n).is_dir()]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    scores = []
    for name in names:
        messages, truth = read_dataset(args.data / name, formats[name])
        score = evaluate(name, messages, truth, args.errors)
        scores.append(score)
        print(f"{name:10s} GA {score.ga:.3f}  PA {score.pa:.3f}  {score.lines_per_s:9.0f} lines/s"
              f"  templates {score.templates} (truth {score.truth_templates})", flush=True)
    n = len(scores)
    total_lines = 2000 * n
    total_time = sum(2000 / s.lines_per_s for s in scores)
    print(f"{'AVERAGE':10s} GA {sum(s.ga for s in scores) / n:.3f}  PA {sum(s.pa for s in scores) / n:.3f}"
          f"  {total_lines / total_time:9.0f} lines/s")


if __name__ == "__main__":
    main()
