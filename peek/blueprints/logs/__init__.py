from peek.blueprints.logs.blueprint import bp
from peek.blueprints.logs.server_log import log_link

__all__ = ["bp", "log_link"]
