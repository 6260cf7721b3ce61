"""Scrubbing secret values out of everything a run produces.

A :class:`Redactor` holds the secret strings known so far (the request's ``redact`` list,
the run's context secrets and every value a step stores with ``context.secrets.set``) and
replaces each occurrence with :data:`MASK`. It is shared by every thread of a run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

MASK = "[secret]"
# Secret values found by walking the context's secrets (not listed explicitly by the studio)
# shorter than this are not scrubbed: masking every "1" or "yes" would make logs unreadable
# while protecting nothing a guess would not reveal. Explicit `redact` entries always count.
MIN_AUTO_SECRET_LENGTH = 4


def string_leaves(value: Any) -> Iterable[str]:
    """Every string inside ``value`` (dict values, list items, nested), plus its JSON dump."""
    if isinstance(value, str):
        yield value
        return
    if isinstance(value, dict):
        for item in value.values():
            yield from string_leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from string_leaves(item)
    if isinstance(value, (dict, list, tuple)):
        try:
            yield json.dumps(value)
            yield json.dumps(value, indent=2)
        except (TypeError, ValueError):
            pass


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret, explicit=True)

    def add(self, secret: str, explicit: bool = False) -> None:
        if not isinstance(secret, str) or not secret:
            return
        if not explicit and len(secret) < MIN_AUTO_SECRET_LENGTH:
            return
        with self._lock:
            if secret not in self._secrets:
                # Longest first, so a secret containing another is masked whole.
                self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def add_value(self, value: Any) -> None:
        """Learn every string leaf of a secret value (a URL, or a dict of credentials)."""
        for leaf in string_leaves(value):
            self.add(leaf)

    def text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def value(self, value: Any) -> Any:
        """A copy of ``value`` with every string leaf (and dict key) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value
