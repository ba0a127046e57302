"""Log mining: raw lines (`logs.received`) -> header fields, templates, failure rules -> counts in
PostgreSQL, new templates embedded and routed to prototypes in ChromaDB, error-ish lines announced as
`log.templated` (same envelope id) for the incident aggregator.

New templates of error-ish lines are embedded with their batch, one model call (at most
`log_embed_inline_max`); every other new template waits for the periodic pass, off the batch's path.

Durability: the batch's event ids, template counts, trend buckets, prototypes and the miner's state
are written in one transaction; redelivered envelopes are matched, not counted, and announced again
(the aggregator dedupes them by envelope id). The miner's state is saved whenever it learned
something, so a restart resumes with the same template ids (ids are also content hashes, so a state
lost with a crash mostly recreates the same ids). A batch whose transaction fails (PostgreSQL restarting,
say) leaves the miner ahead of what was committed: before the next batch, the retry included, the miner is
restored from its saved state, so a retried batch's lines are learned once and its merges recorded.

One writer: the miner lives in this process's memory. Run this task on ONE worker: with two, each
mines its share of the stream and their saved states overwrite each other (ids stay the same content
hashes, but merges and generalisations learned by one are lost to the other). Scale out by
partitioning sources onto separate Redis/PostgreSQL deployments, not by adding log workers.

The analysis (parsing, mining, rules), the building and encoding of the miner's state (megabytes
for tens of thousands of templates) and its decoding and rebuilding (at start, and after a failed
batch) run in threads so the other tasks of the worker keep the event loop; the miner's caps
(settings `log_max_*`) bound every line's work. A line the miner refuses as too costly is
dead-lettered on its own, as an envelope of one record (id `<envelope id>:<index>`), once the
batch's other lines are stored.

The miner keeps at most `log_max_templates` template ids, live and merged ones together (a flood of unique
lines would grow its memory and state without end): past it, it forgets the oldest merged id, else the least
recently matched template (see logs/bound.py); the ids it forgot leave the template -> prototype map too.
A forgotten template's rows stay (and its embedding): its lines of the batch are counted under the id they
had, and the same first line coming back later gets the same id (a content hash) and counts in the same row
again, made live again if it was merged meanwhile.
"""

import asyncio
import logging
from collections import defaultdict
from pathlib import Path

import orjson

from aiops_contracts.chroma import connect_log_collections
from aiops_contracts.embeddings import TextEmbedder
from aiops_contracts.envelope import Envelope
from aiops_contracts.events import LOG_TEMPLATED, LogEvent, LogEventsPayload, LogsPayload
from aiops_contracts.streams import FORMER_SHARED_GROUP, LOGS_INGESTED, LOGS_TEMPLATED
from aiops_worker.incidents.learning import TopologyLearner, edge, merged
from aiops_worker.logs import store
from aiops_worker.logs.analysis import (
    BatchAnalysis,
    ErrorLine,
    FailedLine,
    LogAnalyser,
    TemplateStats,
    log_event,
    merge_stats,
    surviving,
)
from aiops_worker.logs.mining import MinerLimits, TemplateMiner
from aiops_worker.logs.prototypes import Prototype, PrototypeRouter
from aiops_worker.logs.rules import DEFAULT_RULES_PATH, Classifier, load_rules
from aiops_worker.runtime.consumer import Delivery, StreamConsumer
from aiops_worker.runtime.context import WorkerContext
from aiops_worker.runtime.idempotency import claim_new_events
from aiops_worker.runtime.periodic import beside

log = logging.getLogger(__name__)
CLUSTER_BATCH = 500  # unassigned templates routed per periodic pass


class LogMiningTask(StreamConsumer[LogsPayload]):
    name = "logs-mining"
    stream = LOGS_INGESTED
    former_group = FORMER_SHARED_GROUP
    payload_model = LogsPayload

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.miner = TemplateMiner()
        self.analyser: LogAnalyser | None = None
        self.router: PrototypeRouter | None = None
        self.prototype_of: dict[str, str | None] = {}  # template id -> prototype id, as stored
        self._unsaved = False  # the miner learned something not yet saved
        self._diverged = False  # the miner may hold a batch that was not committed: restore it first
        # Ids the miner's bound forgot during the batch being handled: id -> (id counted under, template)
        self._evicted: dict[str, tuple[str, str]] = {}
        self.learner = TopologyLearner(ctx)  # which programs run on which hosts, from every line

    async def run(self, stop: asyncio.Event, drain: bool = False) -> None:
        await self.start()
        if drain:
            await super().run(stop, drain=True)
            await self.cluster_unassigned()
            return
        await beside(super().run(stop), self.settings.log_cluster_interval_s, stop, self.cluster_unassigned)

    async def start(self) -> None:
        """Restore the miner and the template -> prototype map; load the embedding model once."""
        restored = await self._restore()
        if self.settings.log_embeddings_enabled and self.router is None:
            embedder = TextEmbedder(self.settings.embedding_device)
            await asyncio.to_thread(embedder.load)
            collections = await connect_log_collections(self.settings)
            self.router = PrototypeRouter(collections, embedder, self.settings.log_prototype_threshold)
        log.info("log miner started", extra={"templates": len(self.miner.clusters), "restored": restored})

    async def _restore(self) -> bool:
        """The miner and the template -> prototype map as last committed; True when a saved state was found."""
        async with self.ctx.sessions() as session:
            state = await store.load_miner_state(session, self.name)
        self.miner = await asyncio.to_thread(_restore_miner, state, MinerLimits(
            max_line_chars=self.settings.log_max_line_chars, max_token_chars=self.settings.log_max_token_chars,
            max_candidates=self.settings.log_max_candidates,
            max_line_comparisons=self.settings.log_line_max_comparisons, max_clusters=self.settings.log_max_templates))
        async with self.ctx.sessions() as session:  # only the ids the miner holds: the map stays within its bound
            self.prototype_of = await store.template_prototypes(session, self._held())
        self._unsaved = self._diverged = False
        rules_path = Path(self.settings.log_rules_path) if self.settings.log_rules_path else DEFAULT_RULES_PATH
        self.analyser = LogAnalyser(self.miner, Classifier(load_rules(rules_path)), self.settings.log_trend_bucket_s)
        return state is not None

    async def handle(self, batch: list[Delivery[LogsPayload]]) -> None:
        assert self.analyser is not None, "start() first"
        if self._diverged:  # a batch's transaction failed after the miner learned it: back to what was committed
            await self._restore()
        self._diverged = True  # until the transaction below commits
        async with self.ctx.sessions.begin() as session:
            fresh = await claim_new_events(session, self.name, [d.envelope.id for d in batch])
            aliases_before = dict(self.miner.aliases)
            analysis = await asyncio.to_thread(self.analyser.analyse, batch, fresh)
            self._unsaved = self._unsaved or analysis.learned
            self._evicted = analysis.evicted
            merges = self._merges(aliases_before)
            stats, texts = self._by_surviving_id(analysis)
            await store.save_templates(session, stats, texts)
            await store.record_merges(session, merges)
            routed = await self._route(self._needing_prototype(stats, analysis.errors), texts)
            await store.save_prototypes(session, routed)
            if self._unsaved:
                await store.save_miner_state(session, self.name, await asyncio.to_thread(_state_json, self.miner))
        self._unsaved = self._diverged = False
        self._remember(routed, merges)
        if self.router is not None:
            await self.router.forget([old for old, _ in merges])
        await self._announce(batch, analysis.errors)
        self._forget_prototypes()
        await self.learner.learn(merged((edge(*named), {}) for named in analysis.named))
        for failed in analysis.failed:
            await self._dead_letter_line(failed)

    async def cluster_unassigned(self) -> None:
        """Route templates that were not embedded when they appeared (over the per-batch budget). They are
        embedded between two short transactions, not inside one (seconds for a full pass)."""
        if self.router is None:
            return
        async with self.ctx.sessions() as session:
            pending = await store.unassigned_templates(session, CLUSTER_BATCH, self._held())
        routed = await self.router.route(pending)
        async with self.ctx.sessions.begin() as session:
            await store.save_prototypes(session, routed)
        self._remember(routed, [])
        if routed:
            log.info("unassigned templates routed", extra={"templates": len(routed),
                                                          "prototypes": len({p.id for p in routed.values()})})

    def _held(self) -> list[str]:
        """The ids the miner holds, live and merged. Each part is copied in one C call, so a batch's analysis
        running in its thread meanwhile cannot change a dict while it is read."""
        return [*self.miner.clusters, *self.miner.aliases]

    def _merges(self, aliases_before: dict[str, str]) -> list[tuple[str, str]]:
        """(id, id it counts under now) for every id the batch merged: a new alias, or an id the bound forgot
        (it may have come back and merged again), whose survivor is not the one it had before the batch."""
        def before(template_id: str) -> str:
            while template_id in aliases_before:
                template_id = aliases_before[template_id]
            return template_id

        changed = dict.fromkeys(old for old in self.miner.aliases if old not in aliases_before)
        changed.update(dict.fromkeys(self._evicted))
        merges = []
        for old in changed:
            new = self._surviving(old)
            if new != old and new != before(old):
                merges.append((old, new))
        return merges

    def _by_surviving_id(self, analysis: BatchAnalysis) -> tuple[dict[str, TemplateStats], dict[str, str]]:
        """Counts under the id each template has after the batch (the miner may have merged some), and the
        template of each: the live one's, else as the miner forgot it, else as the batch's lines matched it."""
        folded: dict[str, TemplateStats] = {}
        texts: dict[str, str] = {}
        for template_id, stats in analysis.templates.items():
            survivor = self._surviving(template_id)
            if survivor in folded:
                merge_stats(folded[survivor], stats)
            else:
                folded[survivor] = stats
                texts[survivor] = self._template(survivor, analysis.texts.get(survivor, analysis.texts[template_id]))
        return folded, texts

    def _surviving(self, template_id: str) -> str:
        """The id a template's lines count under after the batch: its survivor's, through the ids the miner's
        bound forgot during the batch (see analysis.surviving)."""
        return surviving(self.miner, self._evicted, template_id)

    def _template(self, template_id: str, matched: str) -> str:
        """A template's text after the batch; ``matched``: as a line of the batch matched it."""
        cluster = self.miner.clusters.get(template_id)
        if cluster is not None:
            return cluster.template
        forgotten = self._evicted.get(template_id)
        return matched if forgotten is None else forgotten[1]

    def _needing_prototype(self, stats: dict[str, TemplateStats], errors: list[ErrorLine]) -> list[str]:
        """New templates of the batch's error-ish lines: their prototype goes out with the lines now (the
        incident task groups by it). The other new templates wait for the periodic pass."""
        announced = {self._surviving(line.template_id) for line in errors}
        return [tid for tid in stats if tid in announced and self.prototype_of.get(tid) is None]

    async def _route(self, template_ids: list[str], texts: dict[str, str]) -> dict[str, Prototype]:
        if self.router is None or not template_ids:
            return {}
        inline = template_ids[: self.settings.log_embed_inline_max]
        return await self.router.route({tid: texts[tid] for tid in inline})

    def _remember(self, routed: dict[str, Prototype], merges: list[tuple[str, str]]) -> None:
        self.prototype_of.update({tid: p.id for tid, p in routed.items()})
        for old, new in merges:
            self.prototype_of.pop(old, None)
            self.prototype_of.setdefault(new, None)

    def _forget_prototypes(self) -> None:
        """Drop the ids the miner forgot during the batch (once its lines are announced with their prototype),
        so the map does not grow with a flood of templates; a forgotten template back later is routed again."""
        for old in self._evicted:
            if old not in self.miner.clusters and old not in self.miner.aliases:
                self.prototype_of.pop(old, None)

    async def _announce(self, batch: list[Delivery[LogsPayload]], errors: list[ErrorLine]) -> None:
        """Publish the error-ish lines, one `log.templated` envelope per received one; the events are built
        and dumped in a thread (thousands per batch), the loop only sends them."""
        if errors:
            await self.bus.publish_many(LOGS_TEMPLATED, await asyncio.to_thread(self._envelopes, batch, errors))

    def _envelopes(self, batch: list[Delivery[LogsPayload]], errors: list[ErrorLine]) -> list[Envelope]:
        by_envelope: dict[str, list[LogEvent]] = defaultdict(list)
        for line in errors:
            by_envelope[line.envelope_id].append(self._event(line))
        return [
            Envelope(id=d.envelope.id, type=LOG_TEMPLATED, source=d.envelope.source, trace=d.envelope.trace,
                     payload=LogEventsPayload(events=by_envelope[d.envelope.id]).model_dump(mode="json"))
            for d in batch if d.envelope.id in by_envelope
        ]

    async def _dead_letter_line(self, failed: FailedLine) -> None:
        envelope, payload = failed.delivery.envelope, failed.delivery.payload
        line = LogsPayload(records=[payload.records[failed.index]], labels=payload.labels).labelled()
        part = Envelope(id=f"{envelope.id}:{failed.index}", type=envelope.type, source=envelope.source,
                        time=envelope.time, trace=envelope.trace, payload=line.model_dump(mode="json"))
        await self.dead_letter_part(failed.delivery.entry_id, part, failed.error)

    def _event(self, line: ErrorLine) -> LogEvent:
        return log_event(line, self.miner, self.prototype_of, self._evicted)


def _state_json(miner: TemplateMiner) -> str:
    """The miner's state as JSON text (2.3 MB at 20,000 templates), for a thread, while the batch that changed the
    miner waits (nothing else changes it meanwhile). The clusters are listed one call each from here, as Python
    lets the event loop in between (compiled code would keep the GIL throughout); the encoding is one C call."""
    clusters = [cluster.to_state() for cluster in miner.oldest_first()]
    return orjson.dumps(miner.to_state(clusters)).decode()


def _restore_miner(state: str | None, limits: MinerLimits) -> TemplateMiner:
    """The miner from its saved state (JSON text, _state_json's), for a thread: the decoding is one C call, and the
    clusters are added one call each from here, as Python lets the event loop in between (see _state_json)."""
    if state is None:
        return TemplateMiner(limits=limits)
    try:
        saved = orjson.loads(state)
        miner = TemplateMiner.from_state(saved, limits, add_clusters=False)
        for cluster in saved["clusters"]:
            miner.add_cluster(cluster)
        return miner
    except (ValueError, KeyError, TypeError) as exc:
        # An older state format: start over; template ids are content hashes, so most come back the same.
        log.warning("miner state unreadable, starting empty", extra={"error": repr(exc)})
        return TemplateMiner(limits=limits)
