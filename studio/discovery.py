"""Finding services on disk: every folder in a project is a service.

A bad manifest, an invalid name or an unreadable notebook becomes a :class:`Problem` on that
service (with file, key and reason); the other services load regardless.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import InvalidName, ManifestError, Problem, StudioError
from studio.manifest import STEP_SUFFIXES, Manifest, check_name, load_manifest

# Never part of a service's version, never copied into a run: local, generated or secret.
IGNORED = {"__pycache__", ".ipynb_checkpoints", ".git", "secrets.json", ".studio-local.json", ".DS_Store"}


@dataclass
class ServiceDef:
    """A service as found on disk."""

    project: str
    name: str
    folder: Path
    manifest: Manifest
    steps: list[str]
    version_hash: str
    files: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    form: Any = None                 # forms.Form when parameters.json (or a parameters cell) gives one

    @property
    def key(self) -> str:
        return f"{self.project}/{self.name}"

    @property
    def runnable(self) -> bool:
        """A service runs only when its name, manifest and steps are sound (config/form problems
        are reported, but parameters are then refused by validation instead)."""
        blocking = ("name", "steps", "manifest")
        return bool(self.steps) and not any(p.key.split(".")[0] in blocking for p in self.problems)

    @property
    def readme(self) -> str:
        path = self.folder / "README.md"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def problem_text(self) -> str:
        return "; ".join(str(p) for p in self.problems)


def _files(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file that belongs to the service's version."""
    hashes: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in IGNORED or part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        hashes[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def version_hash(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name, sha in sorted(files.items()):
        digest.update(f"{name}\0{sha}\n".encode())
    return digest.hexdigest()


def _steps(folder: Path, manifest: Manifest, problems: list[Problem]) -> list[str]:
    mpath = str(folder / "manifest.json")
    if manifest.entrypoint:
        names, key = [manifest.entrypoint], "entrypoint"
    elif manifest.execution_order:
        names, key = list(manifest.execution_order), "execution_order"
    else:
        candidates = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix in STEP_SUFFIXES)
        if len(candidates) == 1:
            return candidates
        if not candidates:
            problems.append(Problem(str(folder), "steps", "no notebook, .py or .sql step in the folder"))
        else:
            problems.append(Problem(
                mpath, "steps",
                f"several steps ({', '.join(candidates)}) and no 'entrypoint' or 'execution_order' to order them",
            ))
        return []
    for name in names:
        if not (folder / name).is_file():
            problems.append(Problem(mpath, "steps", f"{key} names {name!r}, which is not in the folder"))
    return names


def _check_notebooks(folder: Path, steps: list[str], problems: list[Problem]) -> None:
    for name in steps:
        path = folder / name
        if path.suffix != ".ipynb" or not path.is_file():
            continue
        try:
            import warnings

            import nbformat

            with warnings.catch_warnings():   # old notebooks without cell ids are fine to run
                warnings.simplefilter("ignore")
                nbformat.validate(nbformat.read(path, as_version=4))
        except Exception as exc:  # unreadable notebook: report it, keep loading the others
            problems.append(Problem(str(path), "steps", f"unreadable notebook: {str(exc).splitlines()[0]}"))


def _config(folder: Path, problems: list[Problem]) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), "", f"not valid JSON: {exc}"))
        return {}
    if not isinstance(data, dict):
        problems.append(Problem(str(path), "", "must be a JSON object"))
        return {}
    return data


def _form(folder: Path, steps: list[str], problems: list[Problem]) -> Any:
    """The service's form: parameters.json, else inferred from the first notebook's parameters cell."""
    import forms

    path = folder / "parameters.json"
    if path.exists():
        try:
            return forms.load_form(path)
        except ManifestError as exc:
            problems.extend(exc.problems)
            return None
    for name in steps:
        if name.endswith(".ipynb") and (folder / name).is_file():
            try:
                return forms.infer_form(folder / name)
            except Exception:  # an uninferable cell just means no inferred form
                return None
    return None


def load_service(project: str, folder: Path) -> ServiceDef:
    problems: list[Problem] = []
    name = folder.name
    try:
        check_name(name)
    except InvalidName as exc:
        problems.append(Problem(str(folder), "name", str(exc)))
    try:
        manifest = load_manifest(folder)
    except ManifestError as exc:
        problems.extend(Problem(p.file, "manifest" if p.key == "" else f"manifest.{p.key}", p.reason)
                        for p in exc.problems)
        manifest = Manifest()
    steps = _steps(folder, manifest, problems)
    _check_notebooks(folder, steps, problems)
    config = _config(folder, problems)
    form = _form(folder, steps, problems)
    files = _files(folder)
    return ServiceDef(
        project=project, name=name, folder=folder, manifest=manifest, steps=steps,
        version_hash=version_hash(files), files=files, problems=problems, config=config, form=form,
    )


def discover(project: str, root: Path) -> list[ServiceDef]:
    """Every folder directly in ``root`` is a service (hidden folders excepted)."""
    if not root.is_dir():
        raise StudioError(f"project {project!r}: folder {root} does not exist")
    return [
        load_service(project, folder)
        for folder in sorted(root.iterdir())
        if folder.is_dir() and not folder.name.startswith((".", "_")) and folder.name not in IGNORED
    ]
