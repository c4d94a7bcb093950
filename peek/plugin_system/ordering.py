"""The order plugins start in: after the plugins they require."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter


def start_order(requires: dict[str, tuple[str, ...]]
                ) -> tuple[list[str], dict[str, str]]:
    """Order the plugins in ``requires`` (name -> names it requires).

    Returns the start order of those that can start, and for the others why
    not: a requirement that is missing (recursively) or a cycle.
    """
    blocked: dict[str, str] = {}
    changed = True
    while changed:  # a plugin requiring a blocked plugin is blocked too
        changed = False
        for name, needs in requires.items():
            if name in blocked:
                continue
            for need in needs:
                if need not in requires:
                    blocked[name] = f"requires {need}, which is not installed or not enabled"
                elif need in blocked:
                    blocked[name] = f"requires {need}, which cannot start"
                else:
                    continue
                changed = True
                break

    graph = {n: set(r) for n, r in requires.items() if n not in blocked}
    while True:
        try:
            order = list(TopologicalSorter(graph).static_order())
            return order, blocked
        except CycleError as e:
            cycle = e.args[1]
            for name in set(cycle):
                blocked[name] = f"is in a requirement cycle: {' -> '.join(cycle)}"
                graph.pop(name, None)
            for name in list(graph):  # and whatever needs the cycle
                if graph[name] & set(blocked):
                    blocked[name] = f"requires {sorted(graph[name] & set(blocked))[0]}, " \
                                    "which cannot start"
                    graph.pop(name)
