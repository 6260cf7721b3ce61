"""A workspace: the studio's home (settings, data folder, projects) and the services found in them.

``Workspace.open(home)`` is what the CLI, the API, the dashboard and every role call first.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select

from studio import defaults
from studio.auth import LOCAL_USER, Principal, authorize
from studio.catalog import Catalog, open_catalog
from studio.catalog.models import Link, Project, Service, ServiceVersion, utcnow
from studio.discovery import ServiceDef, discover
from studio.errors import ConfigError, InvalidName, NotFound, StudioError
from studio.manifest import check_name
from studio.secrets import SecretStore, ensure_key_file, load_keys
from studio.settings import Settings, load_settings

EXAMPLES = Path(__file__).resolve().parent.parent / "notebooks"

SETTINGS_TEMPLATE = """\
# Studio workspace settings. Environment variables STUDIO_<NAME> override each of these.
# database_url = "postgresql://user@host:5432/studio"   # default: SQLite under .studio/
# bus_url = "kafka://127.0.0.1:9092"                     # default: SQLite under .studio/
# artefacts = "/shared/studio-artefacts"                 # default: .studio/artefacts
host = "127.0.0.1"
port = {port}
"""


def init_workspace(home: Path, with_examples: bool = True, **overrides: Any) -> Path:
    """Create a workspace in ``home`` (idempotent): settings, data folder, key, example project."""
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    settings_file = home / defaults.WORKSPACE_FILE
    if not settings_file.exists():
        settings_file.write_text(SETTINGS_TEMPLATE.format(port=defaults.PORT))
    (home / ".gitignore").write_text(f"{defaults.DATA_DIR}/\n**/.studio-local.json\n**/secrets.json\n")
    ws = Workspace.open(home, **overrides)
    try:
        if with_examples and not ws.projects():
            target = home / "projects" / defaults.EXAMPLES_PROJECT
            if not target.exists():
                shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(".studio-local.json", "__pycache__"))
            ws.add_project(defaults.EXAMPLES_PROJECT, target)
    finally:
        ws.close()
    return home


class Workspace:
    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self._secrets: SecretStore | None = None
        self._lock = threading.RLock()
        self._services: dict[str, ServiceDef] = {}
        self._ids: dict[str, str] = {}          # service key -> catalog id
        self._bus: Any = None

    @classmethod
    def open(cls, home: str | Path | None = None, **overrides: Any) -> "Workspace":
        settings = load_settings(home, **overrides)
        if not (settings.home / defaults.WORKSPACE_FILE).exists() and not settings.database_url:
            raise ConfigError(
                f"{settings.home} is not a studio workspace: run `studio init {settings.home}` first, "
                f"or pass --home DIR / set STUDIO_HOME"
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if not settings.secret_keys:
            ensure_key_file(settings.key_file)
        return cls(settings, open_catalog(settings.catalog_url))

    def close(self) -> None:
        if self._bus is not None:
            self._bus.close()
        self.catalog.close()

    @property
    def bus(self) -> Any:
        """The event bus named by the settings (embedded SQLite unless told otherwise)."""
        if self._bus is None:
            from studio.bus import open_bus

            self._bus = open_bus(self.settings.event_bus_url)
        return self._bus

    @property
    def secrets(self) -> SecretStore:
        if self._secrets is None:
            self._secrets = SecretStore(self.catalog, load_keys(self.settings))
        return self._secrets

    # Projects ---------------------------------------------------------------------

    def projects(self) -> list[Project]:
        with self.catalog.session() as s:
            return list(s.scalars(select(Project).order_by(Project.name)))

    def add_project(self, name: str, path: str | Path, who: Principal = LOCAL_USER) -> Project:
        authorize(who, "manage")
        check_name(name, "project")
        folder = Path(path).resolve()
        if not folder.is_dir():
            raise StudioError(f"cannot add project {name!r}: {folder} is not a folder")
        with self.catalog.session() as s:
            if s.scalar(select(Project).where(Project.name == name)):
                raise StudioError(f"project {name!r} already exists; pick another name")
            project = Project(name=name, path=str(folder))
            s.add(project)
        self.sync()
        return project

    # Services ---------------------------------------------------------------------

    def sync(self) -> list[ServiceDef]:
        """Read every project from disk and record what changed (new versions, problems, links)."""
        found: list[ServiceDef] = []
        projects = self.projects()
        for project in projects:
            try:
                found.extend(discover(project.name, Path(project.path)))
            except StudioError:
                continue   # a vanished project folder: its services are marked absent below
        with self._lock, self.catalog.session() as s:
            rows = {(r.project_id, r.name): r for r in s.scalars(select(Service))}
            by_name = {p.name: p.id for p in projects}
            seen: set[str] = set()
            for svc in found:
                row = rows.get((by_name[svc.project], svc.name))
                if row is None:
                    row = Service(project_id=by_name[svc.project], name=svc.name)
                    s.add(row)
                    s.flush()
                if row.version_hash != svc.version_hash or not row.present or row.problems != _problems(svc):
                    row.version_hash = svc.version_hash
                    row.manifest = svc.manifest.model_dump(mode="json")
                    row.description = svc.manifest.description
                    row.tags = list(svc.manifest.tags)
                    row.problems = _problems(svc)
                    row.present = True
                    row.updated_at = utcnow()
                    if not s.scalar(select(ServiceVersion.id).where(
                            ServiceVersion.service_id == row.id, ServiceVersion.hash == svc.version_hash)):
                        s.add(ServiceVersion(service_id=row.id, hash=svc.version_hash,
                                             manifest=row.manifest, files=svc.files))
                    self._sync_links(s, row.id, svc.manifest.trigger_events)
                seen.add(row.id)
                self._ids[svc.key] = row.id
            for row in rows.values():
                if row.id not in seen and row.present:
                    row.present = False
                    row.updated_at = utcnow()
            self._services = {svc.key: svc for svc in found}
        return found

    @staticmethod
    def _sync_links(s: Any, service_id: str, trigger_events: list[str]) -> None:
        """Manifest links follow the manifest; late links and late unlinks are left alone."""
        existing = {l.event_type: l for l in s.scalars(select(Link).where(Link.service_id == service_id))}
        for event_type in trigger_events:
            if event_type not in existing:
                s.add(Link(service_id=service_id, event_type=event_type, origin="manifest"))
        for event_type, link in existing.items():
            if link.origin == "manifest" and event_type not in trigger_events:
                s.delete(link)

    def services(self, refresh: bool = False) -> list[ServiceDef]:
        if refresh or not self._services:
            self.sync()
        return sorted(self._services.values(), key=lambda s: s.key)

    def service(self, name: str, refresh: bool = True) -> ServiceDef:
        """A service by ``name`` or ``project/name``; refreshed from disk unless told otherwise."""
        if "/" in name:
            project, _, short = name.partition("/")
            check_name(project, "project")
            check_name(short)
        else:
            check_name(name)
        if refresh or not self._services:
            self.sync()
        if "/" in name:
            if name in self._services:
                return self._services[name]
            raise NotFound("service", name)
        matches = [svc for svc in self._services.values() if svc.name == name]
        if not matches:
            raise NotFound("service", name)
        if len(matches) > 1:
            raise InvalidName(f"service name {name!r} is in several projects; say "
                              + " or ".join(repr(m.key) for m in matches))
        return matches[0]

    def service_id(self, svc: ServiceDef) -> str:
        if svc.key not in self._ids:
            self.sync()
        return self._ids[svc.key]

    def service_row(self, svc: ServiceDef) -> Service:
        with self.catalog.session() as s:
            row = s.get(Service, self.service_id(svc))
            assert row is not None
            return row

    def is_active(self, svc: ServiceDef) -> bool:
        row = self.service_row(svc)
        return svc.manifest.active if row.active_override is None else row.active_override

    def set_active(self, svc: ServiceDef, active: bool, who: Principal = LOCAL_USER) -> None:
        authorize(who, "manage", svc.project)
        with self.catalog.session() as s:
            row = s.get(Service, self.service_id(svc))
            assert row is not None
            row.active_override = active
            row.updated_at = utcnow()


def _problems(svc: ServiceDef) -> list[dict[str, str]]:
    return [{"file": p.file, "key": p.key, "reason": p.reason} for p in svc.problems]
