"""peek plugin release and installing a release archive without a package
registry: a scaffolded plugin that needs a small local package
(``peek_dep_demo``), its release, and installing it into a throwaway
environment layered on Peek's (so the shared one is never changed)."""

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, peek_cli
from tests.test_plugin_install import snapshot

NAME = "peek_plugin_trelease"
DEP = "peek_dep_demo"


def run(*command, **options):
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True,
                            timeout=300, **options)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def cli_ok(*args, home, **options):
    result = peek_cli(*map(str, args), home=home, **options)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def throwaway_venv(path: Path) -> Path:
    """A venv of its own site-packages that also sees Peek's environment (a .pth
    adding it as a site dir, so its editable installs work too); pip and Peek
    run from it install into it alone. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    shared = run(sys.executable, "-c",
                 "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    Path(purelib.strip(), "_peek_environment.pth").write_text(
        f"import site; site.addsitedir({shared!r})\n")
    return python


def venv_peek(python: Path, *args, home: Path, **env):
    """``peek`` run from the throwaway venv, as an administrator would there."""
    return subprocess.run([str(python), "-m", "peek", *map(str, args)], cwd=REPO,
                          env=dict(os.environ, PEEK_HOME=str(home), **env),
                          capture_output=True, text=True, timeout=300)


def dependency_wheel(tmp_path: Path) -> Path:
    """The wheel of a tiny local package, in a folder of its own (a stand-in
    for a package index)."""
    project = tmp_path / "dep-project"
    (project / DEP).mkdir(parents=True)
    (project / DEP / "__init__.py").write_text("VALUE = 42\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64", "wheel"]\n'
        'build-backend = "setuptools.build_meta"\n')
    (project / "setup.cfg").write_text(f"[metadata]\nname = {DEP}\nversion = 1.2.0\n\n"
                                       f"[options]\npackages = {DEP}\n")
    out = tmp_path / "dep-wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--no-index", "--wheel-dir", out, project)
    return out


def plugin_needing_the_dependency(tmp_path: Path, name: str = NAME) -> Path:
    project = tmp_path / name
    cli_ok("plugin", "new", name, "--services", "server,client,storage,admin,mobile",
           "--dir", project, home=tmp_path)
    setup = project / "setup.cfg"
    setup.write_text(setup.read_text().replace("install_requires =\n",
                                               f"install_requires =\n    {DEP}>=1.0\n"))
    hook = project / name / "_private" / "server" / "hook.py"  # the test import needs it
    hook.write_text(f"import {DEP}  # noqa: F401\n" + hook.read_text())
    return project


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """One release of the plugin and its dependency, for every test here."""
    tmp_path = tmp_path_factory.mktemp("release")
    dep_wheels = dependency_wheel(tmp_path)
    project = plugin_needing_the_dependency(tmp_path)
    out = cli_ok("plugin", "release", project, "--find-links", dep_wheels, "--no-index",
                 "--out", tmp_path / "release.zip", home=tmp_path)
    assert f"{NAME} 0.0.1" in out and "1 dependency wheel(s) (peek_dep_demo-1.2.0" in out
    return tmp_path / "release.zip"


def members(path):
    with zipfile.ZipFile(path) as archive:
        return sorted(archive.namelist())


def test_a_release_installs_its_dependency_and_plugin_without_a_registry(
        release, tmp_path, home):
    assert members(release) == ["peek-release.json",
                                f"plugins/{NAME}-0.0.1-py3-none-any.whl",
                                f"wheels/{DEP}-1.2.0-py3-none-any.whl"]
    manifest = json.loads(zipfile.ZipFile(release).read("peek-release.json"))
    assert manifest["plugins"] == [{"name": NAME, "version": "0.0.1",
                                    "wheel": f"{NAME}-0.0.1-py3-none-any.whl"}]
    # Without the dependency, the plugin wheel alone is refused, naming it.
    plugin_wheel = tmp_path / f"{NAME}-0.0.1-py3-none-any.whl"
    plugin_wheel.write_bytes(zipfile.ZipFile(release).read(
        f"plugins/{NAME}-0.0.1-py3-none-any.whl"))
    refused = peek_cli("plugin", "install", str(plugin_wheel), home=home)
    assert refused.returncode != 0 and "peek-dep-demo>=1.0 (not installed)" in refused.stderr

    python = throwaway_venv(tmp_path / "venv")
    result = venv_peek(python, "plugin", "install", release, home=home,
                       PIP_NO_INDEX="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Installed and enabled {NAME} 0.0.1." in result.stdout
    assert run(python, "-c", f"import {DEP}; print({DEP}.VALUE, {DEP}.__file__)"
               ).startswith(f"42 {tmp_path / 'venv'}")
    listed = json.loads(venv_peek(python, "plugin", "list", "--json", home=home).stdout)
    plugin = {p["name"]: p for p in listed}[NAME]
    assert plugin["version"] == "0.0.1" and plugin["enabled"] and plugin["error"] is None
    # Peek's own environment was not touched.
    check = subprocess.run([sys.executable, "-c", f"import {DEP}"], capture_output=True)
    assert check.returncode != 0

    # Installing it again is refused before pip runs: nothing changes.
    before = snapshot(home)
    again = venv_peek(python, "plugin", "install", release, home=home, PIP_NO_INDEX="1")
    assert again.returncode != 0 and "is installed; the release's 0.0.1 is not newer" \
        in again.stderr
    assert snapshot(home) == before


def rewritten(release: Path, out: Path, drop=(), add=None, manifest=None) -> Path:
    with zipfile.ZipFile(release) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            if name in drop:
                continue
            data = source.read(name)
            if name == "peek-release.json" and manifest:
                data = json.dumps(manifest(json.loads(data))).encode()
            target.writestr(name, data)
        for name, data in (add or {}).items():
            target.writestr(name, data)
    return out


def bump(manifest):
    manifest["plugins"][0]["version"] = "9.0.0"
    return manifest


def misname(manifest):
    manifest["plugins"][0]["wheel"] = "other-1.0-py3-none-any.whl"
    return manifest


@pytest.mark.parametrize("case, change, message", [
    ("missing dependency wheel", dict(drop=[f"wheels/{DEP}-1.2.0-py3-none-any.whl"]),
     f"lists wheels/{DEP}-1.2.0-py3-none-any.whl, missing from the archive"),
    ("missing plugin wheel", dict(manifest=misname),
     "lists plugins/other-1.0-py3-none-any.whl, missing from the archive"),
    ("version mismatch", dict(manifest=bump),
     f"holds {NAME} 0.0.1, but peek-release.json says {NAME} 9.0.0"),
    ("unlisted file", dict(add={"wheels/extra-1.0-py3-none-any.whl": b"x"}),
     "holds wheels/extra-1.0-py3-none-any.whl, not listed in peek-release.json"),
    ("bad manifest", dict(manifest=lambda m: {"format": 2}),
     "is not a release manifest of format 1"),
])
def test_a_bad_release_is_refused_and_changes_nothing(release, tmp_path, home, case,
                                                      change, message):
    bad = rewritten(release, tmp_path / "bad-release.zip", **change)
    cli_ok("plugin", "list", home=home)  # PEEK_HOME as a first command leaves it
    before = snapshot(home)
    result = peek_cli("plugin", "install", str(bad), home=home,
                      extra_env={"PIP_NO_INDEX": "1"})
    assert result.returncode != 0, result.stdout
    assert message in result.stderr, result.stderr
    assert snapshot(home) == before


def test_a_release_refused_after_its_dependencies_takes_its_plugins_back(tmp_path, home):
    """Two plugins; the second fails its test import: the first is removed
    again, and so is the package pip installed for it."""
    dep_wheels = dependency_wheel(tmp_path)
    first = plugin_needing_the_dependency(tmp_path, "peek_plugin_trfirst")
    second = tmp_path / "peek_plugin_trsecond"
    cli_ok("plugin", "new", "peek_plugin_trsecond", "--dir", second, home=tmp_path)
    manifest = second / "peek_plugin_trsecond" / "plugin_package.json"
    data = json.loads(manifest.read_text())
    data["requiresPlugins"] = ["peek_plugin_trfirst"]
    manifest.write_text(json.dumps(data))
    (second / "peek_plugin_trsecond" / "_private" / "server" / "hook.py").write_text(
        "raise ImportError('the second plugin is broken')\n")
    out = cli_ok("plugin", "release", second, first, "--find-links", dep_wheels,
                 "--no-index", "--out", tmp_path / "two.zip", home=tmp_path)
    assert "peek_plugin_trfirst 0.0.1, peek_plugin_trsecond 0.0.1" in out  # required first

    python = throwaway_venv(tmp_path / "venv")
    result = venv_peek(python, "plugin", "install", tmp_path / "two.zip", home=home,
                       PIP_NO_INDEX="1")
    assert result.returncode != 0
    assert "peek_plugin_trsecond failed its test import" in result.stderr
    # The package pip installed for them is uninstalled again (named as its
    # metadata names it: setuptools may write peek-dep-demo).
    assert re.search(r"\(peek_plugin_trfirst of this release taken back; peek[-_]dep[-_]demo "
                     r"1\.2\.0 uninstalled again\)", result.stderr), result.stderr
    assert run(python, "-c", f"import importlib.util; "
                             f"print(importlib.util.find_spec({DEP!r}))").strip() == "None"
    listed = json.loads(venv_peek(python, "plugin", "list", "--json", home=home).stdout)
    assert not {"peek_plugin_trfirst", "peek_plugin_trsecond"} & {p["name"] for p in listed}
    assert not (home / "peek-plugins" / "store" / "peek_plugin_trfirst").exists()


def test_release_errors_are_clear(tmp_path, home):
    missing = peek_cli("plugin", "release", str(tmp_path / "nothing"), home=home)
    assert missing.returncode != 0 and "no such directory" in missing.stderr
    project = plugin_needing_the_dependency(tmp_path)
    unfound = peek_cli("plugin", "release", str(project), "--no-index",
                       "--find-links", str(tmp_path), home=home)
    assert unfound.returncode != 0
    assert "collecting the wheels of peek-dep-demo>=1.0 (pip wheel) failed" in unfound.stderr
    assert "No matching distribution found for peek-dep-demo" in unfound.stderr
