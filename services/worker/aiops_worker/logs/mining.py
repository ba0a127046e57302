"""Streaming online log template miner.

Lines are masked (``masking``), split on whitespace and matched against clusters
of the same token count, indexed by their first token (a Drain-style fixed-depth
tree). Token differences are *soft* when either side already looks variable
(contains a digit or ``<*>``) and *hard* when both are plain words: a line joins
a cluster only through soft differences, because two words in the same slot
("opened"/"closed") usually mean two events. A word slot becomes a variable once
``sibling_merge`` clusters differ only in that slot (user names, job names...);
those clusters are then merged. A slot of capitalised words (GET/POST, Started/Paused)
holds a program's vocabulary: those are event types and need ``vocabulary_merge``
siblings (never, by default). Merged clusters keep the id of the oldest one and
the others are recorded in ``aliases`` (old id -> surviving id), so ids handed
out earlier stay resolvable. Ids are a hash of the first template of a cluster
and never change, which keeps them stable across restarts (``to_state``).

A field that spans a varying number of tokens (an optional "(2.0 KB)", a value of
several words, a list) gives one event clusters of several lengths: clusters with
the same ``skeleton`` (constant words) are grouped, each live cluster aliased to the
group's oldest one, which names the event (``add`` and ``match`` return it). Every
alias points to an older cluster, so ``resolve`` always ends.

Work per line is bounded whatever the input (``MinerLimits``): the line and each token are capped
(a longer token is a variable), a template token's wildcards are matched by an ordered substring
search (linear time, no regular expression), and at most ``max_candidates`` clusters of a bucket or
length are examined. ``work`` counts the token comparisons; a line whose search would need more
than ``max_line_comparisons`` raises ``LineTooCostly`` before the miner changes.

Memory is bounded too: at most ``max_clusters`` ids, live clusters and merged ids together; past it the
oldest merged id is forgotten first, else the least recently used cluster (``bound``: ``BoundedIds`` keeps
the clusters, aliases and recency, and says exactly what is bounded).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from itertools import compress, count
from operator import is_not, ne

from aiops_contracts.text import without_nul

from .bound import BoundedIds, Cluster, MatchResult
from .candidates import NOTHING, CandidateIndex, Key
from .masking import WILDCARD, Masker
from .similarity import HARD, MATCH, compare, generalise_token, may_differ_softly, vocabulary_slot

STATE_VERSION = 1
_LINES_MEMO_CHARS = 4_000_000  # characters of whole messages remembered (with their tokens) before starting afresh
_VARIANT_MIN_WORDS = 2  # constant words two clusters of different lengths must share to be one event


@dataclass(frozen=True)
class MinerConfig:
    sim_threshold: float = 0.6  # share of exactly matching tokens needed to join a cluster
    sibling_merge: int = 3  # clusters differing in one word slot that turn it into <*>
    sibling_min_constants: int = 3  # constant tokens the siblings must share besides the slot
    vocabulary_merge: int = 0  # siblings needed when the slot holds vocabulary words (GET, Started); 0: never
    variant_max_gap: int = 8  # same skeleton, lengths at most this far apart: one event (-1: off)


@dataclass(frozen=True)
class MinerLimits:
    """Caps on the work per line; not part of the saved state (settings may change them)."""

    max_line_chars: int = 4096  # the rest of a longer line is not mined
    max_token_chars: int = 256  # a longer token is a variable: <*>
    max_candidates: int = 500  # newest clusters of a bucket (or of a length) examined per line
    max_line_comparisons: int = 200_000  # token comparisons a line's search may take
    max_clusters: int = 50_000  # ids kept, live clusters and merged ids: a new cluster past it forgets the oldest


@dataclass
class MinerWork:
    """Counted work, cumulative: callers take differences around a line."""

    candidates: int = 0  # clusters examined
    comparisons: int = 0  # token comparisons (each linear in the capped token lengths)


class LineTooCostly(Exception):
    """Matching this line would take more comparisons than ``max_line_comparisons`` allows."""


def _differing(a: Sequence[str], b: Sequence[str]) -> compress[int]:
    """Slots where two token lists of the same length differ (the equality test runs in C)."""
    return compress(count(), map(ne, a, b))


def _single_hard_slot(a: list[str], b: list[str]) -> int:
    """The one slot where ``a`` and ``b`` differ by words, else -1 (none, or several: stops at the second)."""
    slot = -1
    for i in _differing(a, b):
        if compare(a[i], b[i]) == HARD:
            if slot >= 0:
                return -1
            slot = i
    return slot


class TemplateMiner(BoundedIds):
    """Online template miner; ``add`` learns from a message, ``match`` only looks up."""

    def __init__(self, config: MinerConfig | None = None, limits: MinerLimits | None = None) -> None:
        super().__init__()
        self.config = config or MinerConfig()
        self.limits = limits or MinerLimits()
        self.work = MinerWork()
        self._masker = Masker.default()
        self._candidates = CandidateIndex(self.limits.max_candidates)
        self._by_length: dict[int, list[Cluster]] = {}
        self._next_seq = 0
        self._skeletons: dict[tuple[str, ...], tuple[str, int]] = {}  # skeleton -> (cluster id, length)
        self._lines: dict[str, tuple[str, ...]] = {}  # message -> its tokens (messages repeat whole)
        self._lines_chars = 0

    # ----------------------------------------------------------------- public API
    def tokenize(self, message: str) -> list[str]:
        # NUL never reaches a template: PostgreSQL refuses it in text and JSONB (the saved state).
        message = without_nul(message[:self.limits.max_line_chars])
        return self._masker.tokens(message, self.limits.max_token_chars)

    def add(self, message: str) -> MatchResult:
        tokens = self._line(message)
        cluster, covered = self._best(tokens)
        if cluster is None:
            cluster = self._create(list(tokens))
            survivor = self._merge_siblings(cluster)
            self._join_variant(survivor)
            root = self._use(survivor)
            is_new = root is cluster
            return MatchResult(root.cluster_id, root.template, is_new, not is_new)
        cluster.size += 1
        if not covered:
            new_tokens = list(cluster.tokens)
            for i in _differing(cluster.tokens, tokens):
                new_tokens[i] = generalise_token(new_tokens[i], tokens[i])
            if new_tokens != cluster.tokens:
                self._retokenize(cluster, new_tokens)
                cluster = self._absorb_covered(cluster)
                self._join_variant(cluster)
                root = self._use(cluster)
                return MatchResult(root.cluster_id, root.template, False, True)
        return self._use(cluster).matched

    def match(self, message: str) -> MatchResult | None:
        cluster, _ = self._best(self._line(message))
        return None if cluster is None else self._root(cluster).matched

    def templates(self) -> dict[str, str]:
        """Template of every event (a variant cluster is shown by its group's oldest cluster)."""
        return {cid: cluster.template for cid, cluster in self.clusters.items() if cid not in self.aliases}

    def oldest_first(self) -> list[Cluster]:
        return sorted(self.clusters.values(), key=lambda c: c.seq)

    def to_state(self, clusters: list[dict] | None = None) -> dict:
        """What ``from_state`` restores. ``clusters``: each one's ``Cluster.to_state()``, ``oldest_first``, when
        the caller lists them itself: compiled code keeps the GIL until it returns, so a thread that must leave
        the event loop its turns makes the calls from Python (logs/task.py)."""
        if clusters is None:
            clusters = [c.to_state() for c in self.oldest_first()]
        return {"version": STATE_VERSION, "config": asdict(self.config), "clusters": clusters,
                "aliases": dict(self.aliases), "next_seq": self._next_seq}

    @classmethod
    def from_state(cls, state: dict, limits: MinerLimits | None = None, *, add_clusters: bool = True) -> TemplateMiner:
        """The miner ``to_state`` saved. ``add_clusters=False``: the caller adds ``state["clusters"]``, one
        ``add_cluster`` call each, from Python, for a thread that must leave the event loop its turns (see
        ``to_state``)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported miner state version {state.get('version')!r}")
        miner = cls(MinerConfig(**state["config"]), limits)
        if add_clusters:
            for saved in state["clusters"]:
                miner.add_cluster(saved)
        for old, new in dict(state["aliases"]).items():
            miner._alias(old, new)
        miner._next_seq = state["next_seq"]
        return miner

    def add_cluster(self, saved: dict) -> None:
        """A cluster of a saved state (its ``Cluster.to_state()``), as it was (see ``BoundedIds._restored``)."""
        cluster = Cluster(saved["cluster_id"], list(saved["tokens"]), saved["size"], saved["seq"])
        self._index(cluster)
        self._restored(cluster, saved.get("used"))

    # ------------------------------------------------------------------ matching
    def _line(self, message: str) -> tuple[str, ...]:
        """``tokenize(message)``, remembered for messages no longer than ``max_line_chars``."""
        tokens = self._lines.get(message)
        if tokens is None:
            tokens = tuple(self.tokenize(message))
            if len(message) <= self.limits.max_line_chars:
                if self._lines_chars > _LINES_MEMO_CHARS:
                    self._lines.clear()
                    self._lines_chars = 0
                self._lines[message] = tokens
                self._lines_chars += len(message)
        return tokens

    def _best(self, line: tuple[str, ...]) -> tuple[Cluster | None, bool]:
        """The cluster the line joins (None: none) and whether its template covers the line as it is
        (a score of 1: every token matches)."""
        recalled = self._candidates.recall(line)
        if recalled is not None and not recalled[2]:
            return recalled[0], recalled[1][0] == 1.0
        own, wild = self._candidates.buckets(line)
        # Each candidate's tokens are compared with the line's once: a search's cost is known before it starts
        # (a line refused once is refused again, whatever was remembered of it).
        examined = self._candidates.examined(own, wild)
        if examined * len(line) > self.limits.max_line_comparisons:
            raise LineTooCostly(f"over {self.limits.max_line_comparisons} token comparisons "
                                f"({examined} candidate templates of {len(line)} tokens)")
        if recalled is None:
            best, key = self._pick(line, self._candidates.candidates(own, wild), None, NOTHING)
        else:
            best, key = self._pick(line, recalled[2], recalled[0], recalled[1])
        self._candidates.remember(line, best, key, own, wild)
        return best, key[0] == 1.0

    def _newest(self, clusters: list[Cluster]) -> list[Cluster]:
        return clusters[-self.limits.max_candidates:]

    def _pick(self, tokens: tuple[str, ...], candidates: list[Cluster], best: Cluster | None,
              best_key: Key) -> tuple[Cluster | None, Key]:
        """The best of ``best`` and ``candidates``: the highest score at or above the threshold, the oldest
        cluster on a tie (whatever the order of the candidates), and its key (score, -seq).

        A score is the share of matching tokens (equal or covered by a wildcard); a hard (word) difference
        rules the cluster out. Computed inline: this loop runs for every candidate of every searched line.
        Only a template token with a wildcard can cover a different token, so a template differing in more
        slots than it has such tokens to spare is ruled out by counting before any comparison.
        """
        self.work.candidates += len(candidates)
        self.work.comparisons += len(candidates) * len(tokens)
        threshold = self.config.sim_threshold
        length = len(tokens)
        for cluster in candidates:
            template = cluster.tokens
            differing = [i for i in range(length) if template[i] != tokens[i]]  # compiled: faster than _differing
            if length and (length - len(differing) + cluster.wildcards) / length < threshold:
                continue  # the best score it could reach
            matches = length
            for i in differing:
                verdict = compare(template[i], tokens[i])
                if verdict == HARD:
                    break
                matches -= verdict != MATCH
            else:
                score = matches / length if length else 1.0
                if score >= threshold and (key := (score, -cluster.seq)) > best_key:
                    best, best_key = cluster, key
        return best, best_key

    def _covers_all(self, template: list[str], tokens: list[str]) -> bool:
        self._count(tokens)
        return all(compare(template[i], tokens[i]) == MATCH for i in _differing(template, tokens))

    def _count(self, tokens: list[str]) -> None:
        """One candidate examined: each of its tokens is compared with the line's once (equality in C)."""
        self.work.candidates += 1
        self.work.comparisons += len(tokens)

    # ---------------------------------------------------------- cluster upkeep
    def _create(self, tokens: list[str]) -> Cluster:
        self._make_room(self.limits.max_clusters)
        base = hashlib.sha1(" ".join(tokens).encode()).hexdigest()[:16]
        cid, n = base, 1
        while cid in self.clusters or cid in self.aliases:
            n += 1
            cid = f"{base}-{n}"
        cluster = Cluster(cid, tokens, 1, self._next_seq)
        self._next_seq += 1
        self._index(cluster)
        self._created(cluster)
        return cluster

    def _index(self, cluster: Cluster) -> None:
        self._skeletons.setdefault(cluster.skeleton, (cluster.cluster_id, len(cluster.tokens)))
        self.clusters[cluster.cluster_id] = cluster
        self._candidates.add(cluster)
        self._by_length.setdefault(len(cluster.tokens), []).append(cluster)

    def _unindex(self, cluster: Cluster) -> None:
        self._candidates.remove(cluster)
        self._by_length[len(cluster.tokens)].remove(cluster)
        if self._skeletons.get(cluster.skeleton, ("",))[0] == cluster.cluster_id:
            del self._skeletons[cluster.skeleton]
        del self.clusters[cluster.cluster_id]

    def _retokenize(self, cluster: Cluster, tokens: list[str]) -> None:
        self._unindex(cluster)
        cluster.set_tokens(tokens)
        self._index(cluster)

    def _merge_siblings(self, cluster: Cluster) -> Cluster:
        """Merge clusters that differ from ``cluster`` only in one word slot, once enough do."""
        constants = len(cluster.tokens) - cluster.wildcards - 1
        if constants < self.config.sibling_min_constants:
            return cluster
        by_slot: dict[int, list[Cluster]] = {}
        others = self._sibling_candidates(cluster)
        self.work.candidates += len(others)  # each compared slot by slot with the cluster's tokens
        self.work.comparisons += len(others) * len(cluster.tokens)
        for other in others:
            slot = _single_hard_slot(other.tokens, cluster.tokens)
            if slot >= 0:
                by_slot.setdefault(slot, []).append(other)
        for slot in sorted(by_slot):  # sorted: the outcome must not depend on index order
            siblings = by_slot[slot]
            needed = self.config.sibling_merge
            if any(vocabulary_slot(cluster.tokens[slot], other.tokens[slot]) for other in siblings):
                needed = self.config.vocabulary_merge  # a handful of words: event types, not a variable
            if needed and len(siblings) + 1 >= needed:
                return self._merge([cluster, *siblings])
        return cluster

    def _sibling_candidates(self, cluster: Cluster) -> list[Cluster]:
        """The newest clusters of ``cluster``'s length that may differ from it in a single hard slot.

        A plain word of ``cluster`` (``may_differ_softly`` false) against another token without a wildcard
        is a hard difference, so a cluster that has neither the word nor a wildcard in two such slots
        differs in two: two token checks rule it out before the slot-by-slot comparison (the first two
        plain words are enough: telling a token plain is a regular expression search the first time).
        """
        tokens = cluster.tokens
        others = list(filter(partial(is_not, cluster), self._newest(self._by_length[len(tokens)])))  # in C
        plain: list[int] = []  # a loop, not islice of a generator: compiled, that generator would run to the end
        for i, token in enumerate(tokens):
            if not may_differ_softly(token):
                plain.append(i)
                if len(plain) == 2:
                    break
        if len(plain) < 2:
            return others
        i, j = plain
        self.work.candidates += len(others)
        self.work.comparisons += 2 * len(others)
        word_i, word_j = tokens[i], tokens[j]
        return [other for other in others
                if (pattern := other.tokens[i]) == word_i or WILDCARD in pattern
                or (pattern := other.tokens[j]) == word_j or WILDCARD in pattern]

    def _join_variant(self, cluster: Cluster) -> None:
        """Join ``cluster``'s event with an older one of the same skeleton (the same constant words).

        A field spanning a varying number of tokens (an optional "(1.2 KB)", a value of several words,
        a list) gives one event clusters of several lengths; they become one group whose oldest cluster
        names it. Costs one lookup (the skeleton is kept with the cluster): no template is compared.
        """
        key = cluster.skeleton
        known = self._skeletons.get(key)
        if known is None or len(key) < _VARIANT_MIN_WORDS:
            return
        if abs(known[1] - len(cluster.tokens)) <= self.config.variant_max_gap:
            self._unify(cluster.cluster_id, known[0])

    def _unify(self, a: str, b: str) -> None:
        """Put the groups of ``a`` and ``b`` together under the older root (aliases point to older)."""
        roots = sorted({self.resolve(a), self.resolve(b)}, key=lambda cid: self.clusters[cid].seq)
        if len(roots) == 2:
            self._alias(roots[1], roots[0])

    def _absorb_covered(self, cluster: Cluster) -> Cluster:
        """After ``cluster`` generalised, merge same-length clusters its template now covers."""
        covered = [other for other in self._newest(self._by_length[len(cluster.tokens)])
                   if other is not cluster and self._covers_all(cluster.tokens, other.tokens)]
        return self._merge([cluster, *covered]) if covered else cluster

    def _merge(self, group: list[Cluster]) -> Cluster:
        group.sort(key=lambda c: c.seq)
        survivor = group[0]
        tokens = list(survivor.tokens)
        for other in group[1:]:
            tokens = [generalise_token(a, b) for a, b in zip(tokens, other.tokens)]
            survivor.size += other.size
            variant_of = self.resolve(other.cluster_id)
            self._unindex(other)
            del self._recency[other.cluster_id]
            self._unalias(other.cluster_id)  # a variant's link to its group moves to the survivor
            if variant_of != other.cluster_id:
                self._unify(survivor.cluster_id, variant_of)
            self._alias(other.cluster_id, survivor.cluster_id)
        self._retokenize(survivor, tokens)
        return survivor
