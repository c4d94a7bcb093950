"""Live elements of HTMX pages: server-rendered partials swapped in over a websocket.

A page element names a selector and a partial (a template a plugin
registered).  For each distinct (partial, selector) the client service keeps
one renderer, subscribed to the observable proxy like a device: each update
is rendered once and the same HTML goes to every page showing that element,
as an out-of-band swap (``hx-swap-oob``) into the element's id, which the
htmx websocket extension applies.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import Executor
from typing import Any, Callable

from markupsafe import Markup

from peek.vortex import frames, tuples
from peek.vortex.latest import LatestOnly
from peek.vortex.proxy import ObservableProxy
from peek.vortex.selector import TupleSelector

log = logging.getLogger(__name__)

#: Renders (template, tuples, selector) to HTML inside the site's app.
Render = Callable[[str, list, TupleSelector], str]


#: What the page's connection indicator says, by state.
STATUS_TEXT = {"connected": "Online", "reconnecting": "Reconnecting…", "error": "Error",
               "signed-out": "Signed out"}


def status_html(state: str, detail: str | None = None) -> str:
    """The connection indicator, swapped into ``#vortex-status``."""
    return str(Markup('<span id="vortex-status" hx-swap-oob="true" data-state="{}" '
                      'title="{}">{}</span>').format(state, detail or "",
                                                     STATUS_TEXT.get(state, state)))


def element_id(partial: str, selector: TupleSelector) -> str:
    digest = hashlib.sha1(partial.encode() + b"\0" + selector.key).hexdigest()
    return f"vx-{digest[:16]}"


class _Renderer:
    """Subscribed to one selector for one partial; sends rendered HTML to pages."""

    def __init__(self, owner: "LiveElements", partial: str, template: str,
                 selector: TupleSelector):
        self.name = f"live {partial} {selector.key.decode()}"
        self.owner, self.template, self.selector = owner, template, selector
        self.id = element_id(partial, selector)
        self.pages: set[Any] = set()
        self.html: str | None = None
        self._lock = threading.Lock()
        self._frames = LatestOnly(owner.executor, self._render)

    def send(self, frame: str) -> bool:
        """A data (or error) frame from the proxy: rendered off the fan-out path."""
        return self._frames.send(frame)

    def _render(self, frame: str) -> None:
        message = frames.parse(frame)
        if message.type == "data":
            body = self.owner.render(self.template, tuples.decode(message.tuples or b"[]"),
                                     self.selector)
        else:
            body = str(Markup('<p class="vortex-error">{}</p>').format(message.error))
        html = f'<div id="{self.id}" hx-swap-oob="innerHTML">{body}</div>'
        with self._lock:
            self.html = html
            pages = list(self.pages)
        for page in pages:
            page.send(html)

    def add(self, page: Any) -> None:
        with self._lock:
            self.pages.add(page)
            html = self.html
        if html is not None:
            page.send(html)


class LiveElements:
    def __init__(self, proxy: ObservableProxy, executor: Executor):
        self.proxy = proxy
        self.executor = executor
        self.render: Render = lambda template, items, selector: ""
        self._partials: dict[str, tuple[str, str]] = {}  # name -> (owner, template)
        self._renderers: dict[tuple[str, bytes], _Renderer] = {}
        self._lock = threading.Lock()

    def add_partial(self, owner: str, name: str, template: str) -> str:
        full = f"{owner}.{name}"
        self._partials[full] = (owner, template)
        return full

    def forget(self, owner: str) -> None:
        for name in [n for n, (o, _) in self._partials.items() if o == owner]:
            del self._partials[name]

    def subscribe(self, page: Any, partial: str, selector: TupleSelector) -> None:
        entry = self._partials.get(partial)
        if entry is None:
            raise LookupError(f"no live partial {partial!r} (is its plugin enabled on "
                              "this client service?)")
        with self._lock:
            renderer = self._renderers.get((partial, selector.key))
            created = renderer is None
            if created:
                renderer = self._renderers[(partial, selector.key)] = _Renderer(
                    self, partial, entry[1], selector)
        renderer.add(page)
        if created:
            self.proxy.subscribe(renderer, selector)

    def drop_types(self, names: set[str]) -> None:
        """Stop rendering selectors of these tuple types (their plugin keeps
        them from devices now)."""
        with self._lock:
            for key, renderer in list(self._renderers.items()):
                if renderer.selector.name in names:
                    del self._renderers[key]
                    self.proxy.drop(renderer)

    def drop(self, page: Any) -> None:
        with self._lock:
            for key, renderer in list(self._renderers.items()):
                renderer.pages.discard(page)
                if not renderer.pages:
                    del self._renderers[key]
                    self.proxy.drop(renderer)

    def placeholder(self, partial: str, selector: TupleSelector,
                    offline: bool = False) -> Markup:
        """The element a page template puts where the live partial goes;
        ``offline`` keeps its latest HTML in the browser for offline use."""
        renderer = self._renderers.get((partial, selector.key))
        inner = Markup(renderer.html.split(">", 1)[1].rsplit("</div>", 1)[0]) \
            if renderer and renderer.html else Markup('<p aria-busy="true">Loading…</p>')
        return Markup('<div id="{}" class="vortex-live" data-vortex-partial="{}" '
                      'data-vortex-selector="{}"{}>{}</div>').format(
            element_id(partial, selector), partial, selector.key.decode(),
            Markup(" data-vortex-offline") if offline else "", inner)

