"""Each plugin's state on each service instance: the server, each connected
client and agent service, each Dask worker (the dashboard and the Plugins page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from peek.services import AGENT, CLIENT, SERVER, WORKER


@dataclass
class ServiceColumn:
    service: str
    name: str
    #: Plugin name -> its state as the service reported it (state, error, ...).
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Why the service could not say (a Dask worker that did not answer).
    error: str | None = None


def _by_name(states: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in states}


def service_columns(runtime: Any) -> list[ServiceColumn]:
    """The server, each connected client and agent service, each Dask worker."""
    columns = [ServiceColumn(SERVER, "this server", _by_name(runtime.plugin_states()))]
    for service in (CLIENT, AGENT):
        columns += [ServiceColumn(service, peer.name, _by_name(peer.plugins))
                    for peer in runtime.peers.by_service(service)]
    names = {w["address"]: w["name"] for w in runtime.dask.workers()}
    for address, states in sorted(runtime.dask.plugin_states().items()):
        name = names.get(address, address)
        if isinstance(states, list):
            columns.append(ServiceColumn(WORKER, name, _by_name(states)))
        else:  # Client.run returned the worker's exception
            columns.append(ServiceColumn(WORKER, name, error=str(states)))
    return columns


def plugin_names(columns: list[ServiceColumn]) -> list[str]:
    return sorted({name for column in columns for name in column.plugins})


def instances_of(columns: list[ServiceColumn], name: str) -> dict[str, dict[str, Any]]:
    """Plugin ``name`` on each instance: ``{instance: {"service", "state",
    "version", "error"}}``; "not installed" where an instance does not list it."""
    found = {}
    for column in columns:
        instance = SERVER if column.service == SERVER else f"{column.service} {column.name}"
        state = column.plugins.get(name)
        found[instance] = {"service": column.service,
                           **({k: state.get(k) for k in ("state", "version", "error")}
                              if state else {"state": "not installed", "version": None,
                                             "error": column.error})}
    return found
