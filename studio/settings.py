"""The studio's settings: environment (``STUDIO_*``) over the workspace's ``studio.toml`` over defaults.

Every setting is named in the error when it is wrong ("Setting 'database_url' ...").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from studio import defaults

HOME_ENV = "STUDIO_HOME"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STUDIO_", extra="forbid")

    home: Path = Field(default_factory=Path.cwd, description="The workspace folder.")
    database_url: str = Field("", description="Catalog database; default SQLite under the data folder.")
    bus_url: str = Field("", description="Event bus; default SQLite under the data folder, or kafka://host:port.")
    artefacts: Path | None = Field(None, description="Where output notebooks and files go; shared by all executors.")
    secret_keys: list[str] = Field(
        default_factory=list,
        description="Fernet keys, newest first; default: the data folder's secret.key. Older keys still decrypt.",
    )
    host: str = defaults.HOST
    port: int = defaults.PORT
    executor_concurrency: int = defaults.EXECUTOR_CONCURRENCY
    lease_seconds: float = Field(defaults.LEASE_SECONDS, gt=0,
                                 description="How long a running execution's lease lasts without renewal.")
    executor_poll_seconds: float = Field(defaults.EXECUTOR_POLL_SECONDS, gt=0, description=(
        "How often an executor looks in the catalog for work no doorbell announced (delayed retries)."))
    run_timeout: float = defaults.RUN_TIMEOUT_SECONDS
    max_output_bytes: int = defaults.MAX_OUTPUT_BYTES
    max_event_bytes: int = defaults.MAX_EVENT_BYTES
    max_upload_bytes: int = defaults.MAX_UPLOAD_BYTES

    @field_validator("secret_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        home = Path(os.environ.get(HOME_ENV) or init_settings.init_kwargs.get("home") or Path.cwd())  # type: ignore[attr-defined]
        toml = TomlConfigSettingsSource(settings_cls, toml_file=home / defaults.WORKSPACE_FILE)
        return (init_settings, env_settings, toml)

    # Derived locations -------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.home / defaults.DATA_DIR

    @property
    def catalog_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'catalog.db'}"

    @property
    def event_bus_url(self) -> str:
        return self.bus_url or f"sqlite:///{self.data_dir / 'bus.db'}"

    @property
    def artefact_dir(self) -> Path:
        return self.artefacts or self.data_dir / "artefacts"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"


def load_settings(home: str | Path | None = None, **overrides: Any) -> Settings:
    if home is not None:
        overrides["home"] = Path(home).resolve()
    settings = Settings(**overrides)
    settings.home = settings.home.resolve()
    return settings
