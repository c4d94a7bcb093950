from peek.plugin_api import PluginHook


class LoggingHook(PluginHook):
    """Logs each lifecycle step, so the platform's calls can be followed in the log."""

    def load(self) -> None:
        self.platform.log.info("tutorial loaded on the %s service", self.platform.service)

    def start(self) -> None:
        self.platform.log.info("tutorial started on the %s service", self.platform.service)

    def stop(self) -> None:
        self.platform.log.info("tutorial stopped on the %s service", self.platform.service)

    def unload(self) -> None:
        self.platform.log.info("tutorial unloaded on the %s service", self.platform.service)
