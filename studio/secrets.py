"""Secrets: encrypted at rest (Fernet), looked up service -> project -> platform.

Keys come from the settings (``STUDIO_SECRET_KEYS``, newest first) or the data folder's
``secret.key``. Rotation prepends a new key and re-encrypts every secret with it; older keys
keep decrypting until they are dropped. Values are never returned by listing calls.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import delete, select

from studio.catalog import Catalog
from studio.catalog.models import Secret, utcnow
from studio.errors import ConfigError, InvalidName, NotFound
from studio.settings import Settings

SCOPES = ("service", "project", "platform")


def ensure_key_file(path: Path) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(Fernet.generate_key().decode() + "\n")


def load_keys(settings: Settings) -> list[str]:
    if settings.secret_keys:
        return settings.secret_keys
    if not settings.key_file.exists():
        raise ConfigError(
            f"no secret key: set STUDIO_SECRET_KEYS or create the workspace with `studio init` "
            f"(expected {settings.key_file})"
        )
    return [k.strip() for k in settings.key_file.read_text().splitlines() if k.strip()]


def owner_of(scope: str, project: str | None = None, service: str | None = None) -> str:
    if scope == "platform":
        return ""
    if scope == "project":
        if not project:
            raise InvalidName("a project-scoped secret needs a project")
        return project
    if scope == "service":
        if not project or not service:
            raise InvalidName("a service-scoped secret needs a project and a service")
        return f"{project}/{service}"
    raise InvalidName(f"unknown secret scope {scope!r}; use one of {', '.join(SCOPES)}")


class SecretStore:
    def __init__(self, catalog: Catalog, keys: list[str]) -> None:
        if not keys:
            raise ConfigError("Setting 'secret_keys' is empty, and secrets cannot be encrypted without a key.")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except ValueError as exc:
            raise ConfigError(f"Setting 'secret_keys' holds an invalid Fernet key: {exc}") from None
        self.catalog = catalog

    def _encrypt(self, value: Any) -> bytes:
        return self._fernet.encrypt(json.dumps(value).encode())

    def _decrypt(self, token: bytes) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise ConfigError(
                "a secret cannot be decrypted with the configured keys; was a key dropped before rotating?"
            ) from None

    def set(self, name: str, value: Any, scope: str, project: str | None = None, service: str | None = None) -> None:
        if not name or len(name) > 255:
            raise InvalidName(f"invalid secret name {name!r}")
        owner = owner_of(scope, project, service)
        with self.catalog.session() as s:
            row = s.scalar(select(Secret).where(Secret.scope == scope, Secret.owner == owner, Secret.name == name))
            if row is None:
                s.add(Secret(scope=scope, owner=owner, name=name, ciphertext=self._encrypt(value)))
            else:
                row.ciphertext = self._encrypt(value)
                row.updated_at = utcnow()

    def delete(self, name: str, scope: str, project: str | None = None, service: str | None = None) -> None:
        owner = owner_of(scope, project, service)
        with self.catalog.session() as s:
            gone = s.execute(delete(Secret).where(Secret.scope == scope, Secret.owner == owner, Secret.name == name))
            if gone.rowcount == 0:
                raise NotFound("secret", f"{scope}:{owner + ':' if owner else ''}{name}")

    def names(self, scope: str | None = None, project: str | None = None,
              service: str | None = None) -> list[dict[str, Any]]:
        """Names only (never values), with scope, owner and when they changed."""
        query = select(Secret.scope, Secret.owner, Secret.name, Secret.updated_at).order_by(
            Secret.scope, Secret.owner, Secret.name)
        if scope:
            query = query.where(Secret.scope == scope, Secret.owner == owner_of(scope, project, service))
        with self.catalog.session() as s:
            return [
                {"scope": r.scope, "owner": r.owner, "name": r.name, "updated_at": r.updated_at.isoformat()}
                for r in s.execute(query)
            ]

    def for_service(self, project: str, service: str) -> dict[str, dict[str, Any]]:
        """Every secret a service may read, by scope; the context API resolves service first."""
        owners = {"service": f"{project}/{service}", "project": project, "platform": ""}
        result: dict[str, dict[str, Any]] = {scope: {} for scope in SCOPES}
        with self.catalog.session() as s:
            rows = s.scalars(select(Secret).where(
                ((Secret.scope == "service") & (Secret.owner == owners["service"]))
                | ((Secret.scope == "project") & (Secret.owner == owners["project"]))
                | (Secret.scope == "platform")
            )).all()
            for row in rows:
                result[row.scope][row.name] = self._decrypt(row.ciphertext)
        return result

    def get(self, name: str, project: str, service: str) -> Any:
        """The value a service sees for ``name``, or None when no scope has it (as documented)."""
        scoped = self.for_service(project, service)
        for scope in SCOPES:
            if name in scoped[scope]:
                return scoped[scope][name]
        return None

    def rotate(self) -> int:
        """Re-encrypt every secret with the newest key; returns how many were rotated."""
        with self.catalog.session() as s:
            rows = s.scalars(select(Secret)).all()
            for row in rows:
                row.ciphertext = self._fernet.rotate(row.ciphertext)
            return len(rows)


def rotate_key_file(settings: Settings, catalog: Catalog) -> int:
    """Put a new key first in the data folder's key file and re-encrypt everything with it."""
    if settings.secret_keys:
        raise ConfigError("keys come from STUDIO_SECRET_KEYS: put the new key first there, then run rotation")
    keys = [Fernet.generate_key().decode()] + load_keys(settings)
    count = SecretStore(catalog, keys).rotate()
    tmp = settings.key_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(keys) + "\n")
    tmp.replace(settings.key_file)
    return count


def secret_strings(scoped: dict[str, dict[str, Any]]) -> list[str]:
    """Every string inside the secret values (and their JSON text): what output must never show."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= 3:   # redacting "a" everywhere would wreck output and protect nothing
                found.add(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif value is not None and not isinstance(value, bool):
            if len(str(value)) >= 4:
                found.add(str(value))

    for values in scoped.values():
        for value in values.values():
            walk(value)
            if not isinstance(value, str):
                found.add(json.dumps(value))
    return sorted(found, key=len, reverse=True)
