"""The catalog: what the studio knows (projects, services, executions, events ...), in SQL."""

from studio.catalog.db import Catalog, open_catalog

__all__ = ["Catalog", "open_catalog"]
