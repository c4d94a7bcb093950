from flask import jsonify

from peek.device_auth import public
from peek.runtime import current_runtime


@public
def healthz():
    """The service's state as JSON: 200 when healthy, 503 when degraded."""
    body, ok = current_runtime().health()
    return jsonify(body), 200 if ok else 503
