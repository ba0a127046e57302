"""The template miner's candidate index: its clusters by token count and first token, and remembered searches.

A line is compared only with the clusters of its *bucket* (its token count and first token) and of its
length's wildcard bucket (templates whose first token is a variable), the newest ``max_candidates`` of
each. The best cluster found for a line (its masked tokens) is remembered with the index's clock, which
counts the changes of the buckets. When the same line comes again:

* neither bucket changed since (``stamp``): the remembered best is the answer;
* neither lost a cluster since (``changed_at``): only the clusters added since need scoring against the
  remembered best, because the others are the ones the search compared, with the same tokens (a cluster
  whose tokens change is removed and added again);
* else (a removal, or an addition that pushed the oldest cluster out of the newest examined): search anew.

So a new cluster costs each line that may join it one comparison, not a whole new search.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING

from .masking import WILDCARD
from .similarity import may_differ_softly

if TYPE_CHECKING:
    from .bound import Cluster

Key = tuple[float, int]  # (score, -seq): the best cluster has the highest key
NOTHING: Key = (-1.0, 0)  # the key every candidate must beat
_SEARCHES_LIMIT = 100_000  # lines remembered before the memo starts afresh


def bucket_key(tokens: Sequence[str]) -> tuple[int, str]:
    first = tokens[0] if tokens else ""
    return len(tokens), WILDCARD if may_differ_softly(first) else first


@dataclass(eq=False)
class Bucket:
    """A bucket's clusters, oldest first, and when it changed."""

    clusters: list[Cluster] = field(default_factory=list)
    added: list[tuple[int, Cluster]] = field(default_factory=list)  # (clock, cluster) added since changed_at
    changed_at: int = 0  # the last removal, or addition that pushed the oldest out of the newest examined
    stamp: int = 0  # the last change of any kind


class CandidateIndex:
    def __init__(self, max_candidates: int) -> None:
        self.max_candidates = max_candidates
        self._buckets: dict[tuple[int, str], Bucket] = {}
        # line -> (best cluster or None, its key, clock of the search, the line's bucket, its wildcard bucket)
        self._searches: dict[tuple[str, ...], tuple[Cluster | None, Key, int, Bucket, Bucket]] = {}
        self._clock = 0

    def add(self, cluster: Cluster) -> None:
        bucket = self._bucket(bucket_key(cluster.tokens))
        bucket.clusters.append(cluster)
        self._clock += 1
        bucket.stamp = self._clock
        if len(bucket.clusters) > self.max_candidates:
            bucket.changed_at, bucket.added = self._clock, []
        else:
            bucket.added.append((self._clock, cluster))

    def remove(self, cluster: Cluster) -> None:
        bucket = self._buckets[bucket_key(cluster.tokens)]
        bucket.clusters.remove(cluster)  # found by identity
        self._clock += 1
        bucket.changed_at = bucket.stamp = self._clock
        bucket.added = []

    def recall(self, line: tuple[str, ...]) -> tuple[Cluster | None, Key, list[Cluster]] | None:
        """The remembered best cluster of ``line`` (None: none), its key and the clusters added to the line's
        buckets since its search (to compare with it); None when the line must be searched anew."""
        known = self._searches.get(line)
        if known is None:
            return None
        best, key, clock, own, wild = known
        if own.stamp <= clock and wild.stamp <= clock:
            return best, key, []
        if own.changed_at > clock or wild.changed_at > clock:
            return None
        fresh = _added_after(own, clock)
        if wild is not own:
            fresh += _added_after(wild, clock)
        return best, key, fresh

    def buckets(self, tokens: Sequence[str]) -> tuple[Bucket, Bucket]:
        """The line's bucket and its length's wildcard bucket (the same one when its first token is a variable),
        made when missing. Forgets every search first when the memo is full."""
        if len(self._searches) >= _SEARCHES_LIMIT:
            self._searches.clear()
            self._buckets = {key: bucket for key, bucket in self._buckets.items() if bucket.clusters}
        n, first = bucket_key(tokens)
        return self._bucket((n, first)), self._bucket((n, WILDCARD))

    def candidates(self, own: Bucket, wild: Bucket) -> list[Cluster]:
        """The newest clusters of both buckets, the ones a search compares."""
        newest = own.clusters[-self.max_candidates:]
        return newest if wild is own else newest + wild.clusters[-self.max_candidates:]

    def examined(self, own: Bucket, wild: Bucket) -> int:
        """How many clusters a search compares (``len(candidates(own, wild))``)."""
        count = min(len(own.clusters), self.max_candidates)
        return count if wild is own else count + min(len(wild.clusters), self.max_candidates)

    def remember(self, line: tuple[str, ...], best: Cluster | None, key: Key, own: Bucket, wild: Bucket) -> None:
        self._searches[line] = (best, key, self._clock, own, wild)

    def _bucket(self, key: tuple[int, str]) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket()
        return bucket


def _added_after(bucket: Bucket, clock: int) -> list[Cluster]:
    added = bucket.added
    if not added or added[-1][0] <= clock:
        return []
    return [cluster for _, cluster in added[bisect_right(added, clock, key=itemgetter(0)):]]
