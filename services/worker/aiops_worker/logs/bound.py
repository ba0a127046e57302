"""The template miner's clusters and the bound on its ids (``TemplateMiner`` in ``mining`` builds on ``BoundedIds``).

At most ``max_clusters`` ids are kept, live clusters and merged ids (aliases that are no live cluster)
together; so are the saved state (its clusters and aliases) and the alias bookkeeping. A new cluster that
would exceed it first forgets the oldest merged id (its lines already count under its survivor; ids aliased
to it are aliased to its own target instead, the id it was merged into), and when there is none the least recently used cluster (as
Drain3's LRU cache): every line touches the cluster it joins and then its group's root, so a root is never
older than its live members. An evicted member leaves its id as an alias into its group (a merged id from
then on); an evicted root takes its whole group with it (the ids aliased to it, merged ones and variants
alike), and every alias still resolves to a live cluster. A forgotten id is never handed to another template:
ids are hashes of a cluster's first template, so only that template, seen again, gets it back.
``take_evicted`` gives the caller the surviving id and template of every id forgotten since the last call
(ids it handed out may be among them). Each cluster's own memory is bounded by the miner's line caps (its
tokens); ``size`` is a counter.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from itertools import repeat
from operator import contains
from typing import NamedTuple

from .masking import WILDCARD
from .similarity import skeleton

# Forgotten ids remembered for take_evicted (its callers take them per line), oldest out first. One line may forget
# every id held: the worker's log_max_templates is at most this (settings.py).
_EVICTED_MEMO = 100_000


class MatchResult(NamedTuple):  # a tuple: built per line, several times cheaper than a frozen dataclass
    template_id: str
    template: str
    is_new: bool
    changed: bool


@dataclass(eq=False)  # one object per cluster: found in lists by identity
class Cluster:
    cluster_id: str
    tokens: list[str]
    size: int
    seq: int  # creation order: the oldest cluster survives a merge
    used: int = 0  # when a line last joined it (or its group), on the miner's use clock: the bound evicts the lowest

    def __post_init__(self) -> None:
        self.set_tokens(self.tokens)

    def to_state(self) -> dict:
        # Spelled out: dataclasses.asdict's deep copy took ten times as long (0.6 s for 20,000 clusters).
        return {"cluster_id": self.cluster_id, "tokens": list(self.tokens), "size": self.size, "seq": self.seq,
                "used": self.used}

    def set_tokens(self, tokens: list[str]) -> None:
        """The tokens and what is read of them for every line or change of the miner (not saved)."""
        self.tokens = tokens
        self.template = " ".join(tokens)
        self.wildcards = sum(map(contains, tokens, repeat(WILDCARD)))  # tokens holding one (counted in C)
        self.skeleton = skeleton(tokens)
        self.matched = MatchResult(self.cluster_id, self.template, False, False)  # a line that changes nothing


class BoundedIds:
    """Live clusters by id, aliases (merged or variant id -> the id it joined), recency and forgetting."""

    def __init__(self) -> None:
        self.clusters: dict[str, Cluster] = {}
        self.aliases: dict[str, str] = {}
        self._members: dict[str, list[str]] = {}  # id -> the ids aliased to it (``aliases`` reversed)
        self._recency: OrderedDict[str, Cluster] = OrderedDict()  # live clusters, least recently used first
        self._recency_sorted = True  # False: restored clusters not yet put in ``used`` order
        self._used = 0  # the use clock (``Cluster.used``)
        self._evicted: dict[str, tuple[str, str]] = {}  # forgotten id -> (its root's id, its root's template)
        self._dead: dict[str, None] = {}  # aliases that are not live clusters (merged ids), oldest first

    def resolve(self, cluster_id: str) -> str:
        """Surviving id of a cluster id handed out earlier (identity when never merged)."""
        while cluster_id in self.aliases:
            cluster_id = self.aliases[cluster_id]
        return cluster_id

    def take_evicted(self) -> dict[str, tuple[str, str]]:
        """Ids the bound made the miner forget since the last call: id -> (the id its lines were counted under
        when it went, that cluster's template). At most ``_EVICTED_MEMO`` are kept between calls, the latest."""
        evicted, self._evicted = self._evicted, {}
        return evicted

    def _unindex(self, cluster: Cluster) -> None:
        """Take ``cluster`` out of ``clusters`` and of the miner's search indexes."""
        raise NotImplementedError

    def _restored(self, cluster: Cluster, used: int | None) -> None:
        """A cluster of a saved state, indexed. A state saved before the bound has no ``used``: its clusters all
        get the same, older than any line since, and go least matched first (``size``, a root's summed over its
        group's live clusters, members before their root; creation order would make the oldest, often the most
        frequent, go first)."""
        if used is None:
            used = 0
            self._recency_sorted = False
        cluster.used = used
        self._dead.pop(cluster.cluster_id, None)  # its aliases may have been restored first
        if used < self._used:
            self._recency_sorted = False  # added in creation order: sorted by use before the first eviction
        self._used = max(self._used, used)
        self._recency[cluster.cluster_id] = cluster

    def _make_room(self, max_ids: int) -> None:
        """Forget ids until a new cluster fits in ``max_ids``: merged ids first, oldest first, then clusters."""
        while len(self.clusters) + len(self._dead) >= max_ids and (self._recency or self._dead):
            if self._dead:
                self._forget_alias(next(iter(self._dead)))
            else:
                self._evict_least_recent()

    def _created(self, cluster: Cluster) -> None:
        self._used += 1
        cluster.used = self._used
        self._recency[cluster.cluster_id] = cluster

    def _use(self, cluster: Cluster) -> Cluster:
        """A line joined ``cluster``: it and then its group's root become the most recently used; the root."""
        self._used += 1
        cluster.used = self._used
        self._recency.move_to_end(cluster.cluster_id)
        if cluster.cluster_id not in self.aliases:
            return cluster
        root = self.clusters[self.resolve(cluster.cluster_id)]
        self._used += 1
        root.used = self._used
        self._recency.move_to_end(root.cluster_id)
        return root

    def _evict_least_recent(self) -> None:
        """Forget the least recently used cluster: a member stays an alias into its group; a root goes with
        every id aliased to it, directly or not (its group's live members included)."""
        if not self._recency_sorted:
            # By use, then (for clusters of a state saved before the bound: all used alike) by matches: a root by
            # its group's (its own may be few, and it takes the group with it), after its members.
            grouped: dict[str, int] = {}
            for live in self._recency.values():
                root_id = self.resolve(live.cluster_id)
                grouped[root_id] = grouped.get(root_id, 0) + live.size
            self._recency = OrderedDict((c.cluster_id, c) for c in sorted(self._recency.values(), key=lambda c: (
                c.used, c.size if c.cluster_id in self.aliases else grouped[c.cluster_id],
                c.cluster_id not in self.aliases)))
            self._recency_sorted = True
        cid, cluster = self._recency.popitem(last=False)
        self._unindex(cluster)
        if cid in self.aliases:
            self._dead[cid] = None  # resolves into its group as before: the ids handed out for it stay valid
            return
        gone = [cid]
        while gone:
            old = gone.pop()
            self._forget(old, cid, cluster.template)
            for member in self._members.pop(old, []):
                del self.aliases[member]
                self._dead.pop(member, None)
                gone.append(member)
                live = self.clusters.get(member)
                if live is not None:
                    self._unindex(live)
                    del self._recency[member]

    def _forget(self, old: str, root: str, template: str) -> None:
        """Record a forgotten id for ``take_evicted``; past the memo only its oldest records go (a caller that
        takes them after every line, as the log analysis does, never loses one)."""
        self._evicted.pop(old, None)
        while len(self._evicted) >= _EVICTED_MEMO:
            del self._evicted[next(iter(self._evicted))]
        self._evicted[old] = (root, template)

    def _forget_alias(self, old: str) -> None:
        """Forget an alias that is no live cluster (the oldest first): its lines count under its root; the ids
        aliased to it are aliased to its own target instead (older still), so they resolve as before."""
        target = self.aliases[old]
        root = self.clusters[self.resolve(target)]
        self._unalias(old)
        for member in self._members.pop(old, []):
            self.aliases[member] = target
            self._members.setdefault(target, []).append(member)
        self._forget(old, root.cluster_id, root.template)

    def _alias(self, old: str, new: str) -> None:
        self.aliases[old] = new
        self._members.setdefault(new, []).append(old)
        if old not in self.clusters:
            self._dead[old] = None

    def _unalias(self, old: str) -> None:
        new = self.aliases.pop(old, None)
        self._dead.pop(old, None)
        if new is not None:
            members = self._members[new]
            members.remove(old)
            if not members:
                del self._members[new]

    def _root(self, cluster: Cluster) -> Cluster:
        if cluster.cluster_id not in self.aliases:
            return cluster  # most often: a live cluster of its own group
        return self.clusters[self.resolve(cluster.cluster_id)]
