"""``peek worker``: Dask worker processes (under a nanny) joining a scheduler."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

from peek.config import ConfigError, ServiceConfig

log = logging.getLogger(__name__)


async def _serve(address: str, nthreads: int, name: str) -> None:
    from distributed import Nanny

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Nanny(address, nthreads=nthreads, name=name) as nanny:
        log.info("Worker %s joined the scheduler at %s", name, address)
        finished = asyncio.ensure_future(nanny.finished())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([finished, stopping], return_when=asyncio.FIRST_COMPLETED)
        if not finished.done():
            log.info("Stopping worker %s", name)
            await nanny.close(timeout=30)
        finished.cancel()
        stopping.cancel()


def run_worker(config: ServiceConfig) -> None:
    address = config.get("dask.schedulerAddress")
    if not address:
        raise ConfigError(
            f"{config.path}: key 'dask.schedulerAddress' is not set. peek worker joins "
            "an existing Dask scheduler (tcp://host:8786); on one machine peek server "
            "starts its own LocalCluster and needs no separate workers")
    name = f"peek-worker-{socket.gethostname()}-{os.getpid()}"
    asyncio.run(_serve(address, config.get("dask.threadsPerWorker"), name))
