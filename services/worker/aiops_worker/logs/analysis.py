"""The CPU part of the log task: header parsing, template mining and failure rules over a batch.

Lines of envelopes handled before (a redelivery) are matched, not counted again, so the task can
announce their error-ish lines once more without inflating any count.

``analyse`` is plain CPU work on the miner: the task runs it in a thread, off the event loop. A line
the miner refuses as too costly (``LineTooCostly``) is left out of the batch and listed in
``failed``, for the task to dead-letter on its own.

The miner may forget templates the batch counted lines under (its bound on templates): the analysis keeps
what it needs of them itself, each id's template text as matched (``texts``) and every id the miner forgot
during the batch with the id and template its lines went to (``evicted``, taken from the miner after every
line), so what the batch counted never depends on the miner still remembering an id.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from aiops_contracts.events import LogEvent, LogRecord, LogsPayload
from aiops_contracts.text import without_nul
from aiops_worker.logs.headers import parse_line
from aiops_worker.logs.mining import LineTooCostly, MatchResult, TemplateMiner
from aiops_worker.logs.rules import RANK, Classifier, Verdict
from aiops_worker.logs.timestamps import parse_timestamp
from aiops_worker.runtime.consumer import Delivery

_BUCKETS_MAX = 10_000  # trend bucket starts remembered
_UNSEEN = object()  # a timestamp text not parsed yet in this batch


@dataclass
class TemplateStats:
    """What a batch's fresh lines add to one template."""

    count: int
    first_seen: datetime
    last_seen: datetime
    sample: str
    verdict: Verdict
    buckets: Counter[datetime] = field(default_factory=Counter)
    # Lines per instant while the batch is read: one increment per line; first and last seen and the
    # trend buckets are read from it once, per distinct instant, when the batch is done (``settle``).
    times: Counter[datetime] = field(default_factory=Counter, repr=False)

    def settle(self, bucket: Callable[[datetime], datetime]) -> None:
        self.first_seen, self.last_seen = min(self.times), max(self.times)
        for at, lines in self.times.items():
            self.buckets[bucket(at)] += lines
        self.times.clear()


class ErrorLine(NamedTuple):  # a tuple: built per error-ish line, several times cheaper than a frozen dataclass
    """An error-ish line, before its template id is resolved and its prototype known."""

    envelope_id: str
    index: int
    template_id: str
    template: str  # the template's text when the line matched it
    message: str
    host: str | None
    service: str | None
    verdict: Verdict
    at: datetime


@dataclass(frozen=True)
class FailedLine:
    """A line left out of the analysis, with the reason."""

    delivery: Delivery[LogsPayload]
    index: int
    error: str


@dataclass
class BatchAnalysis:
    templates: dict[str, TemplateStats] = field(default_factory=dict)  # by template id at the time of the line
    errors: list[ErrorLine] = field(default_factory=list)
    failed: list[FailedLine] = field(default_factory=list)
    # Template id (as handed out for a line) -> its text at the batch's last line under it
    texts: dict[str, str] = field(default_factory=dict)
    # Ids the miner's bound forgot during the batch -> (the id their lines count under, its template): see
    # TemplateMiner.take_evicted (taken after every line, so the miner's own memo never drops one of them)
    evicted: dict[str, tuple[str, str]] = field(default_factory=dict)
    learned: bool = False  # the miner created or changed a template
    lines: int = 0
    named: set[tuple[str | None, str | None]] = field(default_factory=set)  # (service, host) labels of every line


class LogAnalyser:
    def __init__(self, miner: TemplateMiner, classifier: Classifier, bucket_s: int) -> None:
        self.miner = miner
        self.classifier = classifier
        self.bucket_s = bucket_s
        self._buckets: dict[int, datetime] = {}  # bucket start (epoch seconds) -> its datetime, made once
        # The batch being analysed (one at a time: its one caller, the log task, awaits each batch, and the
        # miner it feeds takes one at a time too): its `now`, and header timestamp text -> its instant (the
        # instant of a year-less text depends on `now`): lines of one second share the text, and each shares
        # one datetime. Emptied once the batch is done.
        self._now = datetime.now(UTC)
        self._instants: dict[str, datetime | None] = {}

    def analyse(self, batch: list[Delivery[LogsPayload]], fresh: set[str]) -> BatchAnalysis:
        analysis = BatchAnalysis()
        self._now = datetime.now(UTC)
        self.miner.take_evicted()  # forgotten before this batch: none of its ids
        try:
            for delivery in batch:
                is_fresh = delivery.envelope.id in fresh
                for index, record in enumerate(delivery.payload.records):
                    try:
                        self._line(analysis, delivery, (index, record), is_fresh)
                    except LineTooCostly as exc:
                        analysis.failed.append(FailedLine(delivery, index, f"{type(exc).__name__}: {exc}"))
        finally:
            self._instants.clear()
        for stats in analysis.templates.values():
            stats.settle(self._bucket)
        return analysis

    def _line(self, analysis: BatchAnalysis, delivery: Delivery[LogsPayload], item: tuple[int, LogRecord],
              is_fresh: bool) -> None:
        index, record = item
        # A label is the record's own, else the envelope's (as LogsPayload.labelled gives it, without a copy
        # of every record); the envelope's host label stands for a record without a host.
        own, shared = record.labels, delivery.payload.labels
        head, _, rest = without_nul(record.message).partition("\n")  # a stack trace's lines follow its first line
        parsed = parse_line(head)
        message = without_nul(parsed.message or head)  # a JSON line may spell NUL as \u0000
        result = self._mine(message, is_fresh)
        analysis.texts[result.template_id] = result.template
        evicted = self.miner.take_evicted()
        if evicted:
            analysis.evicted.update(evicted)
        analysis.learned = analysis.learned or result.is_new or result.changed
        verdict = self.classifier.classify(template_id=result.template_id, template=result.template,
                                           message=message, level=parsed.level or own.get("level", shared.get("level")))
        at = record.timestamp or self._instant(parsed.timestamp) or delivery.envelope.time
        full = f"{message}\n{rest}" if rest else message
        service = own.get("service", shared.get("service")) or _component(parsed.component)
        host = parsed.host or record.host or shared.get("host") or own.get("host", shared.get("host"))
        service, host = service and without_nul(service), host and without_nul(host)
        analysis.named.add((service, host))
        if is_fresh:
            analysis.lines += 1
            self._count(analysis, result.template_id, (at, full, verdict))
        if verdict.error_ish:
            analysis.errors.append(ErrorLine(
                envelope_id=delivery.envelope.id, index=index, template_id=result.template_id, template=result.template,
                message=full, host=host, service=service, verdict=verdict, at=at))

    def _mine(self, message: str, is_fresh: bool) -> MatchResult:
        if not is_fresh:
            matched = self.miner.match(message)
            if matched is not None:
                return matched
        return self.miner.add(message)

    def _instant(self, text: str | None) -> datetime | None:
        if text is None:
            return None
        instant = self._instants.get(text, _UNSEEN)
        if instant is _UNSEEN:
            instant = self._instants[text] = parse_timestamp(text, self._now)
        return instant

    def _count(self, analysis: BatchAnalysis, template_id: str, line: tuple[datetime, str, Verdict]) -> None:
        at, message, verdict = line
        stats = analysis.templates.get(template_id)
        if stats is None:
            stats = analysis.templates[template_id] = TemplateStats(0, at, at, message[:2000], verdict)
        stats.count += 1
        stats.times[at] += 1
        # A template's lines mostly share one verdict object (the classifier caches it per template).
        if verdict is not stats.verdict and RANK[verdict.severity] > RANK[stats.verdict.severity]:
            stats.verdict = verdict

    def _bucket(self, at: datetime) -> datetime:
        start = int(at.timestamp()) // self.bucket_s * self.bucket_s
        bucket = self._buckets.get(start)
        if bucket is None:
            if len(self._buckets) >= _BUCKETS_MAX:
                self._buckets.clear()
            bucket = self._buckets[start] = datetime.fromtimestamp(start, UTC)
        return bucket


def _component(component: str | None) -> str | None:
    """`sshd[123]` -> `sshd`: the process id is not part of the service."""
    if not component:
        return None
    return component.split("[", 1)[0] or None


def merge_stats(into: TemplateStats, other: TemplateStats) -> None:
    """Fold the stats of a template the miner merged into its survivor's."""
    into.count += other.count
    into.first_seen = min(into.first_seen, other.first_seen)
    into.last_seen = max(into.last_seen, other.last_seen)
    into.buckets.update(other.buckets)
    if RANK[other.verdict.severity] > RANK[into.verdict.severity]:
        into.verdict = other.verdict


def surviving(miner: TemplateMiner, evicted: dict[str, tuple[str, str]], template_id: str) -> str:
    """The id ``template_id``'s lines count under after the batch: its survivor's, through the ids forgotten
    meanwhile (``evicted``: one forgotten went to an id that may have been merged or forgotten in turn), to a live
    cluster or a forgotten id that went to itself (a root forgotten with its group)."""
    current = miner.resolve(template_id)
    for _ in range(len(evicted) + 1):  # each step leaves a forgotten id: a cycle cannot outlast them all
        if current in miner.clusters or current not in evicted:
            return current
        following = miner.resolve(evicted[current][0])
        if following == current:
            return current
        current = following
    return current


def log_event(line: ErrorLine, miner: TemplateMiner, prototype_of: dict[str, str | None],
              evicted: dict[str, tuple[str, str]] | None = None) -> LogEvent:
    """The `log.templated` event of an error-ish line, under its template's id after the miner's merges.
    ``evicted``: ids the miner's bound forgot since the line (``BatchAnalysis.evicted``); an id forgotten and
    not recorded there keeps its id and the template it had when the line matched it."""
    template_id = surviving(miner, evicted or {}, line.template_id)
    cluster = miner.clusters.get(template_id)
    if cluster is not None:
        template = cluster.template
    elif evicted and template_id in evicted:
        template = evicted[template_id][1]
    else:
        template_id, template = line.template_id, line.template
    return LogEvent(
        event_id=f"{line.envelope_id}:{line.index}", template_id=template_id,
        prototype_id=prototype_of.get(template_id), template=template,
        message=line.message[:8000], host=line.host, service=line.service, severity=line.verdict.severity,
        category=line.verdict.category, rule=line.verdict.rule, occurred_at=line.at)
