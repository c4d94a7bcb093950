from peek.plugin_api import PluginHook
from peek_plugin_tally import rpcs

PLATFORM = None


class AgentHook(PluginHook):
    def load(self):
        global PLATFORM
        PLATFORM = self.platform
        self.platform.serve_rpc(rpcs.agent_probe)
