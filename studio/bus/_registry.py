"""Buses keyed by URL scheme, papermill-style: ``register_bus(scheme, factory)`` + ``open_bus(url)``."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

from studio.bus._base import EventBus, UnknownBus
from studio.errors import ConfigError

BusFactory = Callable[[str], EventBus]

_factories: dict[str, BusFactory] = {}


def register_bus(scheme: str, factory: BusFactory) -> None:
    """Make ``open_bus`` hand URLs of ``scheme`` (e.g. "kafka") to ``factory(url)``."""
    _factories[scheme.lower()] = factory


def known_schemes() -> list[str]:
    return list(_factories)


def open_bus(url: str) -> EventBus:
    """Open the event bus a URL names: ``sqlite:///path``, ``postgresql://...``, ``kafka://h:p``.

    ``postgresql+psycopg://`` finds the "postgresql" factory: the part after '+' is a driver.
    """
    scheme = urlsplit(url).scheme.lower()
    factory = _factories.get(scheme) or _factories.get(scheme.split("+", 1)[0])
    if factory is None:
        raise UnknownBus(f"No event bus for scheme {scheme!r}; known: {', '.join(_factories)}")
    return factory(url)


def split_options(url: str, names: dict[str, type]) -> tuple[str, dict[str, object]]:
    """Take the bus options ``names`` out of the URL's query string; return the rest of the URL.

    A value that does not convert raises ``ConfigError`` naming the option.
    """
    base, _, query_string = url.partition("?")
    kept: list[tuple[str, str]] = []
    options: dict[str, object] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if key in names:
            try:
                options[key] = names[key](value)
            except ValueError:
                raise ConfigError(f"Bus option {key!r} in {url!r}: {value!r} is not a {names[key].__name__}") from None
        else:
            kept.append((key, value))
    return (f"{base}?{urlencode(kept)}" if kept else base), options
