"""Routing: which warehouses an order's units come from.

The nearest warehouse that can serve the whole order; otherwise the fewest parcels, the
nearest warehouses first. Pure functions over a snapshot of availability; the stock services
take the row locks that make the snapshot true while the plan is carried out.
"""

from collections import defaultdict
from itertools import combinations

from fulfillment.geo import distance_km

# With more candidate warehouses than this, the exact search for the fewest parcels would be
# slow; a greedy cover (largest share first) is used instead.
EXACT_SEARCH_LIMIT = 12

Plan = dict[int, dict[int, int]]  # warehouse id -> {variant id -> units}


class Unroutable(Exception):
    """Even all warehouses together cannot serve the order. `shortages` maps variant id to
    (wanted, available everywhere)."""

    def __init__(self, shortages: dict[int, tuple[int, int]]) -> None:
        self.shortages = shortages
        super().__init__(f"cannot route: {shortages}")


def warehouses_by_distance(warehouses: dict[int, tuple[float, float] | None], destination) -> list[int]:
    """Warehouse ids, nearest to `destination` first (ties and unknown places by id)."""
    return sorted(warehouses, key=lambda w: (distance_km(warehouses[w], destination), w))


def plan_route(wanted: dict[int, int], available: dict[tuple[int, int], int], ranked: list[int]) -> Plan:
    """Choose where each unit comes from.

    wanted: variant id -> units; available: (warehouse id, variant id) -> units free;
    ranked: the candidate warehouses, nearest first. Raises Unroutable."""
    wanted = {v: n for v, n in wanted.items() if n > 0}
    totals: dict[int, int] = defaultdict(int)
    for (warehouse, variant), units in available.items():
        if warehouse in ranked and units > 0:
            totals[variant] += units
    shortages = {v: (n, totals[v]) for v, n in wanted.items() if totals[v] < n}
    if shortages:
        raise Unroutable(shortages)
    if not wanted:
        return {}

    def serves(group) -> bool:
        return all(sum(available.get((w, v), 0) for w in group) >= n for v, n in wanted.items())

    # Only warehouses holding something wanted can be part of a plan.
    useful = [w for w in ranked if any(available.get((w, v), 0) > 0 for v in wanted)]
    group = _fewest(useful, serves) if len(useful) <= EXACT_SEARCH_LIMIT else _greedy(useful, wanted, available)
    return _allocate(wanted, available, group)


def _fewest(useful: list[int], serves) -> list[int]:
    for size in range(1, len(useful) + 1):
        # combinations() keeps the ranking's order, so the first group that serves is the one
        # whose nearest warehouses are nearest: "fewest parcels, nearest first".
        for group in combinations(useful, size):
            if serves(group):
                return list(group)
    raise AssertionError("totals said the order can be served")  # pragma: no cover


def _greedy(useful: list[int], wanted: dict[int, int], available: dict[tuple[int, int], int]) -> list[int]:
    left = dict(wanted)
    group: list[int] = []
    while any(left.values()):
        best = max(
            (w for w in useful if w not in group),
            key=lambda w: (sum(min(available.get((w, v), 0), n) for v, n in left.items()), -useful.index(w)),
        )
        group.append(best)
        for v, n in left.items():
            left[v] = max(0, n - available.get((best, v), 0))
    return [w for w in useful if w in group]


def _allocate(wanted: dict[int, int], available: dict[tuple[int, int], int], group: list[int]) -> Plan:
    """Take each variant from the group's nearest warehouses first."""
    plan: Plan = {}
    for variant, units in sorted(wanted.items()):
        for warehouse in group:
            take = min(units, available.get((warehouse, variant), 0))
            if take:
                plan.setdefault(warehouse, {})[variant] = take
                units -= take
            if not units:
                break
    return plan
