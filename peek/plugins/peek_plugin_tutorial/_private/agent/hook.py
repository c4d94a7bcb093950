import threading

from ... import rpcs
from ..lifecycle import LoggingHook


class AgentHook(LoggingHook):
    """Calls the server's RPCs once it is connected, and serves subtract_ints."""

    def load(self) -> None:
        super().load()
        self.platform.serve_rpc(rpcs.subtract_ints)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        super().start()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._talk_to_server,
                                        name="tutorial-agent", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        super().stop()

    def _talk_to_server(self) -> None:
        log = self.platform.log
        delay = 0.5
        while not self._stopping.is_set():
            try:  # until the server answers: it may not be up yet
                total = self.platform.call_rpc(rpcs.add_ints, 1, 2)
                break
            except Exception as e:
                log.info("the server cannot add yet (%s); trying again", e)
                self._stopping.wait(delay)
                delay = min(delay * 2, 10)
        else:
            return
        log.info("the server added 1 + 2 = %s", total)
        try:
            row = self.platform.call_rpc(rpcs.insert_string_int, "from the agent", total)
            log.info("the server inserted row %s: %s = %s", row.id, row.string1, row.int1)
            answer = self.platform.call_rpc(rpcs.report_status, "the agent has started")
            log.info("the server answered the status: %s", answer)
        except Exception as e:
            log.warning("an RPC to the server failed: %s", e)
