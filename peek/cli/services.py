"""``peek run`` and one command per service."""

from __future__ import annotations

import os
import sys

import click

from peek.cli.errors import reported
from peek.services import AGENT, CLIENT, SERVER


@click.command()
@reported
def run() -> None:
    """Start every service on this machine: server (with the embedded PostgreSQL
    and a Dask LocalCluster unless configured otherwise), client and agent."""
    from peek.launcher import run_all
    sys.exit(run_all())


def _service_command(service: str, doc: str) -> click.Command:
    @click.command(name=service, help=doc)
    @reported
    def command() -> None:
        from peek import greenlets
        if service in greenlets.GREENLET_SERVICES and not greenlets.active():
            # The patch must come before any import opens a socket: start afresh.
            os.execv(sys.executable, [sys.executable, "-m", "peek", service])
        from peek.serve import run_service
        run_service(service)
    return command


server = _service_command(SERVER, "Run the server service alone: admin site, database, "
                                  "migrations, the service-to-service endpoint and Dask.")
client = _service_command(CLIENT, "Run the client service alone: mobile and desktop sites.")
agent = _service_command(AGENT, "Run the agent service alone (connects out to the server).")


@click.command()
@reported
def worker() -> None:
    """Run Dask worker processes that join the scheduler in dask.schedulerAddress."""
    from peek.config import load_config
    from peek.logs import setup_logging
    from peek.workers.worker import run_worker

    config = load_config("worker")
    setup_logging(config)
    run_worker(config)
