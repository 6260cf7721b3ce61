"""Studio: a notebook-first low-code studio.

Kept deliberately light: notebooks do ``from studio import context`` and that import
must not pull in the web server, the catalog or Panel.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["context", "__version__"]


def __getattr__(name: str):  # lazy so `import studio` stays cheap inside kernels
    if name == "context":
        import importlib

        return importlib.import_module("studio.context")
    raise AttributeError(name)
