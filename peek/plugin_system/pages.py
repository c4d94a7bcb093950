"""Where plugins appear on the platform's sites: mount points and named slots.

A slot is a named place on a platform page that plugins contribute to.  The
manifest places a plugin with a site part in that site's home screen or menu
(``title``, ``icon``, ``priority`` in the site's section); a hook adds more
with ``platform.add_to_slot``.  Items render in ascending priority, then title.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint

from peek.plugin_system.manifest import Manifest

#: Slot name -> the site whose pages render it.
SLOTS: dict[str, str] = {
    "admin.menu": "admin",          # an entry in the admin site's menu
    "admin.dashboard": "admin",     # a panel on the admin dashboard (needs a template)
    "mobile.home": "mobile",        # an icon and title on the mobile home screen
    "desktop.home": "desktop",      # an icon and title on the desktop home and side menu
}
#: The slot each site's manifest section fills.
MANIFEST_SLOTS = {"admin": "admin.menu", "mobile": "mobile.home", "desktop": "desktop.home"}
DEFAULT_PRIORITY = 100


@dataclass(frozen=True)
class SlotItem:
    plugin: str
    title: str
    url: str | None = None
    icon: str | None = None
    template: str | None = None
    priority: int = DEFAULT_PRIORITY

    @property
    def sort_key(self) -> tuple[int, str]:
        return self.priority, self.title.lower()


def url_prefix(plugin: str, site: str) -> str:
    """Where a plugin's blueprint for ``site`` is mounted."""
    return f"/desktop/{plugin}" if site == "desktop" else f"/{plugin}"


def manifest_item(manifest: Manifest, site: str) -> SlotItem:
    """The home-screen or menu item a site's manifest section describes."""
    section = manifest.sections.get(site, {})
    prefix = url_prefix(manifest.package_name, site)
    icon = section.get("icon")
    return SlotItem(plugin=manifest.package_name, title=section.get("title", manifest.title),
                    url=f"{prefix}/",
                    icon=f"{prefix}/{icon}" if icon and "://" not in icon else icon,
                    priority=section.get("priority", DEFAULT_PRIORITY))


def check_templates(plugin: str, blueprint: Blueprint) -> None:
    """A plugin's templates live in ``templates/<plugin>/`` so they can shadow
    neither the platform's nor another plugin's; anything else is refused."""
    if not blueprint.template_folder:
        return
    folder = Path(blueprint.root_path, blueprint.template_folder)
    if not folder.is_dir():
        return
    strays = sorted(p.name for p in folder.iterdir() if p.name != plugin and not p.name.startswith("."))
    if strays:
        raise ValueError(f"{plugin}: blueprint {blueprint.name!r} has templates outside "
                         f"{folder.name}/{plugin}/: {', '.join(strays)}; keep every "
                         f"template in {folder.name}/{plugin}/")
