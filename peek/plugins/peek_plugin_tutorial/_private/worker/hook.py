from ..lifecycle import LoggingHook


class WorkerHook(LoggingHook):
    pass
