from ..lifecycle import LoggingHook


class AgentHook(LoggingHook):
    pass
