"""Reachability of an on-demand fleet's places, checked before the run.

A shuttle must be able to drive from every place it serves (its depots, the edges of its
riders' zones and trips) to every other: otherwise it strands on a dead-end edge, or a
rider waits on an edge no shuttle can reach, and SUMO's dispatchers fail far into the run
with an unrelated message. So the places must lie in one strongly connected component of
the edge graph of the shuttle's vehicle class (scipy's ``connected_components``; the graph
is :meth:`~mobility.shuttles.graph.NetGraph._turns`, a node per edge and an arc per turn).

The component kept is the one holding most of the places (ties: the first depot's). Places
outside it raise a :class:`~mobility.errors.SpecError` naming the field and the edges, or,
with ``riders.unreachable: drop``, rider edges are dropped from their zones and trips with
a :class:`ShuttleWarning` (an unreachable depot is always an error: move it).
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import breadth_first_order, connected_components

from mobility.errors import SpecError

SHOWN = 8  # edges named in a message, at most


class ShuttleWarning(UserWarning):
    """Something in the shuttle sections was dropped or changed on the user's request."""


@dataclass
class Places:
    """Where a fleet serves: field -> edges (depots, zones, trip ends)."""

    depots: dict[str, list[str]] = field(default_factory=dict)
    riders: dict[str, list[str]] = field(default_factory=dict)

    def edges(self) -> list[str]:
        return [e for group in (self.depots, self.riders) for es in group.values() for e in es]


@dataclass
class Kept:
    """What the check leaves: rider edges dropped (field -> edges), for :func:`_riders`."""

    dropped: dict[str, set[str]] = field(default_factory=dict)

    def drops(self, where: str, edge: str) -> bool:
        return edge in self.dropped.get(where, set())


def check_reachable(graph: object, vclass: str, fleet: str, places: Places, *, drop: bool) -> Kept:
    """Raise a SpecError (or drop rider edges, with ``drop``) for places outside the
    strongly connected component that holds most of ``places``."""
    index = graph.index  # type: ignore[attr-defined]
    tail, head = graph._turns(vclass)  # type: ignore[attr-defined]
    n = len(index)
    adj = coo_array((np.ones(len(tail), bool), (tail, head)), shape=(n, n)).tocsr()
    _, label = connected_components(adj, directed=True, connection="strong")
    counts = Counter(int(label[index[e]]) for e in places.edges())
    if not counts:
        return Kept()
    depots = [e for es in places.depots.values() for e in es]
    home = int(label[index[depots[0]]]) if depots else -1
    main = max(counts, key=lambda c: (counts[c], c == home))
    inside = label == main
    node = int(np.flatnonzero(inside)[0])
    from_main = np.zeros(n, bool)
    from_main[breadth_first_order(adj, node, directed=True, return_predecessors=False)] = True
    to_main = np.zeros(n, bool)
    to_main[breadth_first_order(adj.T.tocsr(), node, directed=True, return_predecessors=False)] = (
        True
    )

    def why(edge: str) -> str:
        i = index[edge]
        if from_main[i]:
            return f"{edge} (a dead end: reached, but no way back)"
        if to_main[i]:
            return f"{edge} (no way there: only leads in)"
        return f"{edge} (cut off both ways)"

    def outside(group: dict[str, list[str]]) -> dict[str, list[str]]:
        out = {w: sorted({e for e in es if not inside[index[e]]}) for w, es in group.items()}
        return {w: es for w, es in out.items() if es}

    total = len(set(places.edges()))
    bad_depots = outside(places.depots)
    if bad_depots:
        where, edges = next(iter(bad_depots.items()))
        msg = (
            f"field `{where}`: depot edge {', '.join(why(e) for e in edges)} is not mutually "
            f"reachable with the other places of fleet {fleet!r} for vehicle class "
            f"{vclass!r} ({counts[main]} of {total} places lie in one strongly connected "
            "part of the network); move the depot onto a road shuttles can leave and return to"
        )
        raise SpecError(msg)
    bad = outside(places.riders)
    if not bad:
        return Kept()
    if not drop:
        where, edges = next(iter(bad.items()))
        more = sum(len(es) for es in bad.values()) - len(edges[:SHOWN])
        named = ", ".join(why(e) for e in edges[:SHOWN]) + (f" and {more} more" if more else "")
        msg = (
            f"field `{where}`: edges {named} are not mutually reachable with the depots of "
            f"fleet {fleet!r} for vehicle class {vclass!r}: a shuttle could not serve them "
            "and come back; remove them, or set `riders.unreachable: drop` to drop every "
            "such edge with a warning"
        )
        raise SpecError(msg)
    for where, edges in bad.items():
        message = (
            f"field `{where}`: dropped edges {', '.join(edges[:SHOWN])}"
            + (f" and {len(edges) - SHOWN} more" if len(edges) > SHOWN else "")
            + f": not mutually reachable with the depots of fleet {fleet!r} for {vclass!r}"
            " (riders.unreachable: drop)"
        )
        warnings.warn(message, ShuttleWarning, stacklevel=2)
    return Kept({w: set(es) for w, es in bad.items()})
