from peek.plugin_api import PluginHook


class LoggingHook(PluginHook):
    """Logs each lifecycle step, so the platform's calls can be followed in the log."""

    def load(self) -> None:
        self.platform.log.info("noop loaded on the %s service", self.platform.service)

    def start(self) -> None:
        self.platform.log.info("noop started on the %s service", self.platform.service)

    def stop(self) -> None:
        self.platform.log.info("noop stopped on the %s service", self.platform.service)

    def unload(self) -> None:
        self.platform.log.info("noop unloaded on the %s service", self.platform.service)
