"""The output cache: what each node produced, kept across runs.

Keys and storage are separate. A key is a hash of everything a node's result depends on:
its type and version, its literal inputs, the keys of the nodes that feed it and the
node's own fingerprint (a file's identity, ...). So a changed widget changes that node's
key and, through it, the keys of everything downstream, and nothing else.
The store is bounded by bytes (tensors counted by size, each entry at least
`ENTRY_BYTES`) and evicts the least recently used; each node keeps at most
`RESULTS_PER_NODE` results, so that a server whose every job has a new seed holds a few
results per node rather than every image it ever made (memory crept by each job's images
until the byte budget, 2 GiB, was full, and by each output node's entry without end).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.types import PortType, tensor_bytes

# Enough to switch a widget between a few values and back without recomputing; bounds
# what one node holds when every run differs (a new seed each job).
RESULTS_PER_NODE = 4
ENTRY_BYTES = 1024  # what an entry costs besides its tensors (keys, dicts, what it showed)


def cache_key(
    type_id: str,
    version: int,
    literals: Mapping[str, Any],
    upstream: Mapping[str, tuple[str, str]],
    fingerprint: str | None,
) -> str:
    """Key of a node's result. `upstream` maps an input to (source key, source output)."""
    blob = json.dumps(
        [type_id, version, literals, sorted(upstream.items()), fingerprint],
        sort_keys=True,
        separators=(",", ":"),
        default=repr,
    )
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


def value_bytes(value: Any) -> int:
    """Memory held by an output value (model weights are the model store's, not ours)."""
    if isinstance(value, PortType):
        return value.nbytes()
    if hasattr(value, "element_size") and hasattr(value, "nelement"):
        return tensor_bytes(value)
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(value_bytes(v) for v in value)
    return 0


@dataclass(frozen=True)
class CacheEntry:
    outputs: Mapping[str, Any]
    ui: Mapping[str, Any] | None  # what an output node showed (saved files, ...)
    nbytes: int
    node: str = ""  # the node that made it (its results are bounded together)


class OutputCache:
    """LRU store of node results bounded by `budget_bytes` (0 keeps nothing)."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.bytes_used = 0
        self.evictions = 0
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._by_node: dict[str, list[str]] = {}  # a node's keys, least recently used first
        self._lock = threading.Lock()

    def get(self, key: str) -> CacheEntry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                used = self._by_node[entry.node]
                used.append(used.pop(used.index(key)))
            return entry

    def put(
        self, key: str, outputs: Mapping[str, Any], ui: Mapping[str, Any] | None, node: str
    ) -> bool:
        """Store a result of `node`; False when it is larger than the whole budget (not
        kept). The node's oldest result goes when it has `RESULTS_PER_NODE` already."""
        size = ENTRY_BYTES + sum(value_bytes(v) for v in outputs.values())
        if size > self.budget_bytes or self.budget_bytes <= 0:
            return False
        with self._lock:
            self._drop(key)
            while len(self._by_node.get(node, ())) >= RESULTS_PER_NODE:
                self._drop(self._by_node[node][0])
                self.evictions += 1
            self._entries[key] = CacheEntry(dict(outputs), ui, size, node)
            self._by_node.setdefault(node, []).append(key)
            self.bytes_used += size
            while self.bytes_used > self.budget_bytes:
                self._drop(next(iter(self._entries)))
                self.evictions += 1
        return True

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.bytes_used -= entry.nbytes
        keys = self._by_node.get(entry.node)
        if keys is not None:
            keys.remove(key)
            if not keys:
                del self._by_node[entry.node]

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_node.clear()
            self.bytes_used = 0
