#!/usr/bin/env python3
"""Loghub-2k benchmark of the worker's log template miner.

Usage: ``python scripts/bench/loghub.py --data /work/shared/bench-data/loghub [--only HDFS,Linux] [--errors N] [--loo]``

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
* lines/s: lines mined per second of CPU time (``time.process_time``) over the
  mining loop only (no I/O), so that other work on the machine does not skew it.

Every set is also parsed by Drain3 with its default configuration (a plain baseline
in the same run): its GA/PA and our difference are printed per set. ``--loo`` scores
a small grid of the miner's knobs (``loghub_loo.GRID``) on every set and, for each set
in turn, chooses the setting that is best on the others and scores it on the one left
out; the left-out average is printed beside the in-sample one of the shipped setting.
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
from aiops_worker.logs.mining import MinerConfig, TemplateMiner  # noqa: E402

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
        if token.lower() in _FIXED_WORDS or _DIGITS.match(token) or _GLUED.match(token) and token != "<*>/<*>":
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


def evaluate(name: str, messages: list[str], truth: list[str], errors: int = 0,
             config: MinerConfig | None = None) -> Score:
    miner = TemplateMiner(config)
    start = time.process_time()
    ids = [miner.add(message).template_id for message in messages]
    elapsed = max(time.process_time() - start, 1e-9)
    groups = [miner.resolve(cid) for cid in ids]
    templates = [miner.clusters[g].template for g in groups]
    return score_groups(name, (messages, truth), (groups, templates), elapsed, errors)


def score_groups(name: str, data: tuple[list[str], list[str]], parsed: tuple[list[str], list[str]],
                 elapsed: float, errors: int = 0) -> Score:
    """GA/PA of a parse: ``parsed`` is the group and the final template of every line."""
    messages, truth = data
    groups, templates = parsed
    pa_ok = [correct_template(p) == correct_template(t) for p, t in zip(templates, truth)]
    if errors:
        report_errors(messages, truth, groups, templates, pa_ok, errors)
    return Score(name, grouping_accuracy(groups, truth), sum(pa_ok) / len(truth),
                 len(messages) / elapsed, len(set(groups)), len(set(truth)))


def evaluate_drain3(name: str, messages: list[str], truth: list[str]) -> Score:
    """The baseline: Drain3 with its default configuration (no masking), one line at a time."""
    from drain3 import TemplateMiner as Drain3
    from drain3.template_miner_config import TemplateMinerConfig

    drain = Drain3(config=TemplateMinerConfig())
    start = time.process_time()
    ids = [drain.add_log_message(message)["cluster_id"] for message in messages]
    elapsed = max(time.process_time() - start, 1e-9)
    templates = [drain.drain.id_to_cluster[i].get_template() for i in ids]
    return score_groups(name, (messages, truth), ([str(i) for i in ids], templates), elapsed)


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
    parser.add_argument("--loo", action="store_true", help="leave-one-out over the knob grid as well")
    args = parser.parse_args()
    formats = json.loads((args.data / "formats.json").read_text())
    names = [n for n in sorted(formats) if (args.data / n).is_dir()]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    data = {name: read_dataset(args.data / name, formats[name]) for name in names}
    scores, baseline = [], []
    for name, (messages, truth) in data.items():
        score = evaluate(name, messages, truth, args.errors)
        drain = evaluate_drain3(name, messages, truth)
        scores.append(score)
        baseline.append(drain)
        print(f"{name:10s} GA {score.ga:.3f}  PA {score.pa:.3f}  {score.lines_per_s:9.0f} lines/s"
              f"  templates {score.templates} (truth {score.truth_templates})"
              f"  | Drain3 GA {drain.ga:.3f} PA {drain.pa:.3f}  diff GA {score.ga - drain.ga:+.3f}"
              f" PA {score.pa - drain.pa:+.3f}", flush=True)
    print(f"{'AVERAGE':10s} GA {mean(s.ga for s in scores):.3f}  PA {mean(s.pa for s in scores):.3f}"
          f"  {lines_per_s(scores):9.0f} lines/s")
    print(f"{'DRAIN3':10s} GA {mean(s.ga for s in baseline):.3f}  PA {mean(s.pa for s in baseline):.3f}"
          f"  {lines_per_s(baseline):9.0f} lines/s")
    if args.loo:
        from loghub_loo import leave_one_out

        leave_one_out(data, scores)


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def lines_per_s(scores: list[Score]) -> float:
    return 2000 * len(scores) / sum(2000 / s.lines_per_s for s in scores)


if __name__ == "__main__":
    main()
