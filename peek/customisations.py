"""End-user customisations: an administrator's files overlaying a site's own.

A site's look (title, wording, logo, CSS) differs from one installation to the
next, and changing it should need neither a plugin nor an edit inside the
installed package, which the next upgrade would undo.  The directory in
``frontend.customisationsDir`` holds ``templates/`` and ``static/``; a file there
wins over the package's or a plugin's file of the same name.  A broken override
never breaks a page: the original is used and a warning names the file.  Nothing
outside the directory is ever read through it (no ``..``, absolute paths or
symlinks pointing out).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, MutableMapping

from flask import Flask, Response, current_app, send_file
from jinja2 import BaseLoader, Environment, Template, TemplateSyntaxError
from werkzeug.security import safe_join

from peek.config import ServiceConfig

log = logging.getLogger(__name__)

Stamp = tuple[int, int] | None  # (mtime_ns, size) of a file, None when there is none


def customisations_dir(config: ServiceConfig) -> Path:
    """``frontend.customisationsDir``; a relative path is inside the service's home."""
    return config.home / Path(config.get("frontend.customisationsDir")).expanduser()


def install_customisations(app: Flask, directory: Path) -> None:
    """Make ``app`` prefer the files in ``directory`` (which need not exist yet:
    files added later are picked up without a restart)."""
    env = app.jinja_env
    env.loader = OverrideLoader(directory / "templates", env.loader)
    env.template_class = FallbackTemplate
    env.auto_reload = True  # so a changed override is noticed in production too
    static_root = directory / "static"
    refused: set[str] = set()

    def send_static(filename: str) -> Response:
        """The ``static`` endpoint, so ``url_for('static', ...)`` is unchanged."""
        path = inside(static_root, filename)
        if path is not None:
            return send_file(path, max_age=current_app.get_send_file_max_age(filename))
        if filename not in refused and _stamp(static_root, filename) is not None:
            refused.add(filename)
            log.warning("Customised static file %s is not a file inside %s; serving the "
                        "original instead", static_root / filename, static_root)
        return current_app.send_static_file(filename)
    app.view_functions["static"] = send_static


def inside(root: Path, name: str) -> Path | None:
    """The file ``root/name`` if it is really inside ``root``, else None."""
    joined = safe_join(str(root), name)  # refuses "..", absolute paths
    if joined is None:
        return None
    try:
        path, base = Path(joined).resolve(strict=True), root.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return path if path.is_relative_to(base) and path.is_file() else None


def _stamp(root: Path, name: str) -> Stamp:
    """Cheap enough to call on every render: one stat, no symlink resolution."""
    joined = safe_join(str(root), name)
    try:
        st = os.stat(joined) if joined else None
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size) if st else None


class OverrideLoader(BaseLoader):
    """Templates from ``root`` first, then from ``fallback`` (Flask's loader,
    which also finds plugin blueprints' templates).  An override that does not
    compile, or that raised while rendering, is passed over until it changes."""

    def __init__(self, root: Path, fallback: BaseLoader):
        self.root, self.fallback = root, fallback
        self._broken: dict[str, Stamp] = {}   # template name -> the version that failed
        self._filenames: dict[str, str] = {}  # loaded override's filename -> its name

    def get_source(self, environment: Environment, template: str
                   ) -> tuple[str, str | None, Callable[[], bool] | None]:
        path = self._usable(template)
        if path is None:
            return self.fallback.get_source(environment, template)
        state = self._state(template)
        return path.read_text("utf-8"), str(path), lambda: self._state(template) == state

    def list_templates(self) -> list[str]:
        return self.fallback.list_templates()

    def load(self, environment: Environment, name: str,
             globals: MutableMapping[str, Any] | None = None) -> Template:
        state, path = self._state(name), self._usable(name)
        if path is not None:
            try:
                code = environment.compile(path.read_text("utf-8"), name, str(path))
            except (TemplateSyntaxError, OSError, UnicodeDecodeError) as error:
                log.warning("Customised template %s cannot be used, so the original "
                            "%s is: %s", path, name, error)
            else:
                self._filenames[str(path)] = name
                return environment.template_class.from_code(
                    environment, code, {} if globals is None else globals,
                    lambda: self._state(name) == state)
        source, filename, uptodate = self.fallback.get_source(environment, name)
        code = environment.compile(source, name, filename)
        return environment.template_class.from_code(
            environment, code, {} if globals is None else globals,
            lambda: self._state(name) == state and (uptodate is None or uptodate()))

    def _usable(self, name: str) -> Path | None:
        stamp, broken = self._state(name)
        if stamp is None or broken:
            return None
        path = inside(self.root, name)
        if path is None:
            log.warning("Customised template %s is not a file inside %s; using the original",
                        self.root / name, self.root)
        return path

    def _state(self, name: str) -> tuple[Stamp, bool]:
        """The override's version, and whether it failed: a template loaded with
        one state is reloaded when it changes (see Environment.auto_reload)."""
        stamp = _stamp(self.root, name)
        return stamp, name in self._broken and self._broken[name] == stamp

    def blame(self, error: BaseException) -> str | None:
        """The override whose own code raised ``error``, if one did: the innermost
        template frame (Jinja rewrites them to the template's file) is its file."""
        innermost = None
        tb: TracebackType | None = error.__traceback__
        while tb is not None:
            if "__jinja_exception__" in tb.tb_frame.f_globals:
                innermost = tb.tb_frame.f_code.co_filename
            tb = tb.tb_next
        return self._filenames.get(innermost) if innermost else None

    def set_broken(self, name: str, broken: bool) -> None:
        if broken:
            self._broken[name] = _stamp(self.root, name)
        else:
            self._broken.pop(name, None)


class FallbackTemplate(Template):
    """A template that, when an override raises while it renders, renders again
    with the original in its place (and keeps the original until the file changes)."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        try:
            return super().render(*args, **kwargs)
        except Exception as error:
            loader = self.environment.loader
            name = loader.blame(error) if isinstance(loader, OverrideLoader) else None
            if name is None or self.name is None:
                raise
            loader.set_broken(name, True)
            try:
                html = self.environment.get_template(self.name).render(*args, **kwargs)
            except Exception:
                loader.set_broken(name, False)  # the original fails too: not the override's fault
                raise
            log.warning("Customised template %s raised while rendering, so the original "
                        "%s is used until the file changes: %s: %s",
                        loader.root / name, name,
                        type(error).__name__, error)
            return html
