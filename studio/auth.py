"""Who may do what: one check every action passes through.

The embedded default has a single local user, the platform admin. Roles per project
(owner: everything; admin: everything but delete; user: view and run) are modelled here
already, so the web role and multi-user setups add principals, not checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.errors import Forbidden

ACTIONS = {
    "view", "run", "cancel", "link", "manage",          # manage: projects, mappings, tokens, active switch
    "secrets.names", "secrets.write", "delete",
}
ROLE_ACTIONS = {
    "owner": ACTIONS,
    "admin": ACTIONS - {"delete"},
    "user": {"view", "run", "cancel"},
}


@dataclass(frozen=True)
class Principal:
    name: str
    platform_admin: bool = False
    roles: dict[str, str] = field(default_factory=dict)   # project -> role


LOCAL_USER = Principal("local", platform_admin=True)


def allowed(who: Principal, action: str, project: str | None = None) -> bool:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if who.platform_admin:
        return True
    if project is None:
        return False
    return action in ROLE_ACTIONS.get(who.roles.get(project, ""), set())


def authorize(who: Principal, action: str, project: str | None = None) -> None:
    if not allowed(who, action, project):
        where = f" on project {project!r}" if project else ""
        raise Forbidden(f"{who.name} may not {action}{where}")
