"""Real plugin packages written by tests: a package with its manifest, hooks and
migrations, plus the ``.dist-info`` that registers its ``peek.plugins`` entry
point, in a directory put on ``sys.path`` (as pip would install it)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

HOOK_TEMPLATE = '''
from peek.plugin_api import PluginHook
import peek_test_events


class Hook(PluginHook):
    def _event(self, step):
        peek_test_events.EVENTS.append(f"{{self.platform.plugin_name}}:{{step}}")
        if step in {fail!r}:
            raise RuntimeError(f"{{self.platform.plugin_name}} breaks in {{step}}")

    def load(self):
        self._event("load")
{extra_load}
    def start(self):
        self._event("start")
{extra_start}
    def stop(self):
        self._event("stop")

    def unload(self):
        self._event("unload")
{extra}
'''


def make_plugin(root: Path, name: str, *, services=("server",), requires=(), fail=(),
                version="1.0.0", manifest: dict | None = None, extra_load="",
                extra_start="", extra="", migrations: dict[str, str] | None = None,
                init_extra="") -> Path:
    """Write plugin ``name`` under ``root``; ``fail`` lists steps that raise
    (``import``, ``load``, ``start``, ``stop``, ``unload``)."""
    root.mkdir(parents=True, exist_ok=True)
    events = root / "peek_test_events.py"
    if not events.exists():
        events.write_text("EVENTS = []\n")
    package = root / name
    package.mkdir()
    hook_services = [s for s in services if s in ("server", "client", "agent", "worker")]
    lines = ["from peek.plugin_api import PluginHook\n"]
    if "import" in fail:
        lines.append("raise ImportError('this plugin cannot be imported')\n")
    for service in hook_services:
        lines.append(f"def {service}_entry_hook():\n    from ._hook import Hook\n    return Hook\n")
    lines.append(init_extra)
    (package / "__init__.py").write_text("\n".join(lines))
    indent = lambda code: textwrap.indent(textwrap.dedent(code), " " * 8)  # noqa: E731
    (package / "_hook.py").write_text(HOOK_TEMPLATE.format(
        fail=tuple(fail), extra_load=indent(extra_load), extra_start=indent(extra_start),
        extra=textwrap.indent(textwrap.dedent(extra), " " * 4)))
    data = manifest if manifest is not None else {
        "plugin": {"title": name.replace("_", " ").title(), "packageName": name,
                   "version": version},
        "requiresServices": list(services),
        "requiresPlugins": list(requires),
    }
    (package / "plugin_package.json").write_text(json.dumps(data, indent=2))
    if migrations:
        versions = package / "_private" / "migrations" / "versions"
        versions.mkdir(parents=True)
        for filename, code in migrations.items():
            (versions / filename).write_text(textwrap.dedent(code))
    dist = root / f"{name}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(f"[peek.plugins]\n{name} = {name}\n")
    return package


def forget_modules(prefixes=("peek_plugin_t", "peek_core_t", "peek_test_events")) -> None:
    for module in [m for m in sys.modules if m.startswith(prefixes)]:
        del sys.modules[module]


def migration(revision: str, down: str | None, body: str, down_body: str = "pass") -> str:
    return f'''
import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{textwrap.indent(textwrap.dedent(body), "    ")}


def downgrade():
{textwrap.indent(textwrap.dedent(down_body), "    ")}
'''


def write_plugin_source(root: Path, name: str, version: str = "1.0.0", *,
                        services=("server",), requires=(), migrations=None,
                        init_code: str = "", manifest_extra: dict | None = None) -> Path:
    """A plugin's source tree (not importable from the tests), for packaging."""
    package = root / name
    package.mkdir(parents=True)
    hooks = "".join(f"\n\ndef {s}_entry_hook():\n    return Hook\n"
                    for s in services if s in ("server", "client", "agent", "worker"))
    (package / "__init__.py").write_text(
        f"from peek.plugin_api import PluginHook\n{textwrap.dedent(init_code)}\n\n"
        f"class Hook(PluginHook):\n    pass\n{hooks}")
    (package / "plugin_package.json").write_text(json.dumps({
        "plugin": {"title": name, "packageName": name, "version": version},
        "requiresServices": list(services), "requiresPlugins": list(requires),
        **(manifest_extra or {})}))
    if migrations:
        versions = package / "_private" / "migrations" / "versions"
        versions.mkdir(parents=True)
        for filename, code in migrations.items():
            (versions / filename).write_text(textwrap.dedent(code))
    return package


def _files(package: Path) -> list[tuple[str, bytes]]:
    return [(str(p.relative_to(package.parent)), p.read_bytes())
            for p in sorted(package.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]


def build_wheel(package: Path, version: str, out: Path, requires_dist=()) -> Path:
    """A wheel as a build backend makes it: the package plus its .dist-info."""
    import zipfile

    name = package.name
    path = out / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires_dist)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for arcname, data in _files(package):
            wheel.writestr(arcname, data)
        wheel.writestr(f"{dist}/METADATA", metadata)
        wheel.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n")
        wheel.writestr(f"{dist}/entry_points.txt", f"[peek.plugins]\n{name} = {name}\n")
    return path


def build_sdist(package: Path, version: str, out: Path) -> Path:
    """An sdist with a src/ layout."""
    import io
    import tarfile

    name = package.name
    top = f"{name}-{version}"
    path = out / f"{top}.tar.gz"
    members = [(f"{top}/PKG-INFO", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()),
               (f"{top}/setup.cfg", f"[metadata]\nname = {name}\nversion = {version}\n".encode()),
               *((f"{top}/src/{arcname}", data) for arcname, data in _files(package))]
    with tarfile.open(path, "w:gz") as tar:
        for arcname, data in members:
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def build_source_zip(package: Path, out: Path, top: str = "project") -> Path:
    """A zip of a plugin's source tree, one folder deep."""
    import zipfile

    path = out / f"{package.name}-source.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{top}/README.md", "a plugin\n")
        for arcname, data in _files(package):
            archive.writestr(f"{top}/{arcname}", data)
    return path


def manager_for(home: Path, enabled: list[str], service: str = "server", engine=None):
    """A PluginManager of ``service`` with ``enabled``, loaded and started (and,
    given an engine, migrating)."""
    from peek.config import load_config
    from peek.plugin_system.manager import PluginManager
    from tests.conftest import write_config

    write_config(home, service, {"plugin": {"enabled": enabled}})
    manager = PluginManager(load_config(service), engine=engine, migrate=engine is not None)
    manager.load_all()
    manager.start_all()
    return manager
