"""The artefact store for files users hand to the studio (form uploads, REST uploads).

    path = store_upload(ws, "sales q3.csv", b"...")   # -> absolute path, a string
    # <artefact_dir>/uploads/<uuid>/sales_q3.csv

The path is what a run receives as the value of a ``file`` field, so the notebook simply
opens it. Every upload gets its own folder (a fresh uuid), so two uploads of the same name
never overwrite each other, and the name the browser sent is reduced to one safe path part.
Executions' own outputs live next to it (``<artefact_dir>/<execution id>/``).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from pathlib import Path

from studio.errors import StudioError
from studio.workspace import Workspace

UPLOADS = "uploads"
MAX_NAME = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(filename: str | None) -> str:
    """One harmless path part from whatever name a client sent.

    Drops any folders (``/`` and ``\\``), characters outside ``[A-Za-z0-9._-]`` (spaces and
    the rest become ``_``), ``..`` runs and leading dots (no hidden files, no ``..``).
    """
    name = unicodedata.normalize("NFKD", str(filename or "")).encode("ascii", "ignore").decode()
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name)
    while ".." in name:
        name = name.replace("..", ".")
    name = name.lstrip(".").strip("_") or "upload"
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 16 else name[:MAX_NAME]
    return name


def uploads_dir(ws: Workspace) -> Path:
    return Path(ws.settings.artefact_dir) / UPLOADS


class UploadTooLarge(StudioError):
    status_code = 413


def store_upload(ws: Workspace, filename: str | None, content: bytes) -> str:
    """Keep ``content`` in the artefact store; returns the absolute path of the new file."""
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError(f"an upload's content must be bytes, not {type(content).__name__}")
    limit = ws.settings.max_upload_bytes
    if len(content) > limit:
        raise UploadTooLarge(f"{safe_filename(filename)} is {len(content):,} bytes; uploads may be at most "
                             f"{limit:,} bytes (setting max_upload_bytes)")
    folder = uploads_dir(ws).resolve() / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=False)
    path = folder / safe_filename(filename)
    with open(path, "xb") as fh:
        fh.write(bytes(content))
    return str(path)


def is_upload(ws: Workspace, path: str | Path) -> bool:
    """Whether ``path`` is a file of the upload store (and nowhere else)."""
    root = uploads_dir(ws).resolve()
    resolved = Path(path).resolve()
    return root in resolved.parents and resolved.is_file()


def store_uploads(ws: Workspace, values: dict, fields: list[str]) -> dict:
    """``values`` with every upload ``{"filename", "content"}`` of ``fields`` replaced by its stored path."""
    out = dict(values)
    for name in fields:
        value = out.get(name)
        if isinstance(value, dict) and set(value) == {"filename", "content"}:
            out[name] = store_upload(ws, value["filename"], value["content"])
    return out
