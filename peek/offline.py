"""Pages a device may reopen offline.

The sites' service worker (``static/js/service-worker.js``) keeps a copy of a
page only when its response carries ``X-Peek-Offline``: pages opt in, since a
page may show data a shared device should not keep.  A template opts in by
calling ``{{ offline_page() }}``.
"""

from __future__ import annotations

from flask import Response, g
from markupsafe import Markup

HEADER = "X-Peek-Offline"


def offline_page() -> Markup:
    """Template global: the page being rendered may be kept for offline use."""
    g.peek_offline = True
    return Markup("")


def mark_offline_page(response: Response) -> Response:
    if g.get("peek_offline") and response.status_code == 200:
        response.headers[HEADER] = "1"
    return response
