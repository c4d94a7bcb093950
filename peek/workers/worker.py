"""``peek worker``: Dask worker processes, each under a nanny, joining a scheduler.

The nanny runs the worker in a child process and starts a new one when it
dies.  When the scheduler goes away the workers close; ``peek worker`` then
joins it again as soon as it is back, until it is stopped (SIGINT/SIGTERM).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket

from peek.config import ConfigError, ServiceConfig

log = logging.getLogger(__name__)

REJOIN_MAX_S = 30.0


async def _serve_once(address: str, processes: int, nthreads: int, base: str,
                      stop: asyncio.Event) -> bool:
    """Run the nannies until they all finish or ``stop``; True if they ran."""
    from distributed import Nanny

    nannies = [Nanny(address, nthreads=nthreads,
                     name=base if processes == 1 else f"{base}-{i}")
               for i in range(processes)]
    try:
        await asyncio.gather(*nannies)
    except Exception as e:  # scheduler unreachable: the caller waits and tries again
        log.warning("Could not join the Dask scheduler at %s: %s", address, e)
        await asyncio.gather(*(n.close(timeout=10) for n in nannies), return_exceptions=True)
        return False
    log.info("Worker %s joined the scheduler at %s with %d process(es)", base, address,
             processes)
    finished = asyncio.ensure_future(asyncio.gather(*(n.finished() for n in nannies)))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([finished, stopping], return_when=asyncio.FIRST_COMPLETED)
    if stop.is_set():
        log.info("Stopping worker %s", base)
    else:
        log.warning("Worker %s lost the scheduler at %s; joining again when it is back",
                    base, address)
    await asyncio.gather(*(n.close(timeout=30) for n in nannies), return_exceptions=True)
    finished.cancel()
    stopping.cancel()
    return True


async def _serve(address: str, processes: int, nthreads: int, base: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    delay = 1.0
    while not stop.is_set():
        if await _serve_once(address, processes, nthreads, base, stop):
            delay = 1.0
        if stop.is_set():
            return
        try:
            await asyncio.wait_for(stop.wait(), delay * (0.5 + random.random()))
        except asyncio.TimeoutError:
            pass
        delay = min(delay * 2, REJOIN_MAX_S)


def run_worker(config: ServiceConfig) -> None:
    address = config.get("dask.schedulerAddress")
    if not address:
        raise ConfigError(
            f"{config.path}: key 'dask.schedulerAddress' is not set. peek worker joins "
            "an existing Dask scheduler (tcp://host:8786); on one machine peek server "
            "starts its own LocalCluster and needs no separate workers")
    base = f"peek-worker-{socket.gethostname()}-{os.getpid()}"
    asyncio.run(_serve(address, config.get("dask.workerProcesses"),
                       config.get("dask.threadsPerWorker"), base))
