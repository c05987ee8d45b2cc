"""Deployment settings: a TOML file plus `ISOBRIDGE_…` environment overrides and secret files.

Precedence (highest first): environment variables (nested with `__`, e.g.
`ISOBRIDGE_SOURCES__ONESTOP__PASSWORD`), secret files under `ISOBRIDGE_SECRETS_DIR` (one file per
key, nested as folders or `sources__onestop__password`), then the TOML file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from . import samples
from .report.agencies import DocumentSettings


class LedgerSettings(BaseModel):
    """`[ledger]`: where the SQLite ledger lives."""

    model_config = ConfigDict(extra="forbid")
    path: Path = Path("isobridge.db")


class CalendarSettings(BaseModel):
    """`[calendar]`: the working calendar file (bundled Vietnam calendar when omitted)."""

    model_config = ConfigDict(extra="forbid")
    file: Path = samples.CALENDAR


class ProceduresSettings(BaseModel):
    """`[procedures]`: the folder of ISO procedure TOML files (bundled samples when omitted)."""

    model_config = ConfigDict(extra="forbid")
    dir: Path = samples.PROCEDURES


class PrivacySettings(BaseModel):
    """`[privacy]`: the key of citizens' pseudonyms.

    Without a key, the ledger creates a random one on first use and keeps it, so pseudonyms stay
    stable for that ledger; set one explicitly to share pseudonyms across deployments.
    """

    model_config = ConfigDict(extra="forbid")
    pseudonym_key: SecretStr | None = None


def _names(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class StepSourceSettings(BaseModel):
    """`[sync.step_source]`: when several sources describe one dossier, whose events count.

    Each rule is a source name or a priority list of them: by procedure code, else by agency
    code, else `default`. The first listed source with events for the dossier is evaluated alone.
    """

    model_config = ConfigDict(extra="forbid")
    default: list[str] = []
    procedures: dict[str, list[str]] = {}
    agencies: dict[str, list[str]] = {}

    @field_validator("default", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return _names(value)

    @field_validator("procedures", "agencies", mode="before")
    @classmethod
    def _tables(cls, value: Any) -> Any:
        return {key: _names(names) for key, names in value.items()} if isinstance(value, dict) else value


class SyncSettings(BaseModel):
    """`[sync]`: batch sizes of the sync job."""

    model_config = ConfigDict(extra="forbid")
    batch_size: int = Field(default=2000, ge=1, description="Evidence items per sink write.")
    workers: int = Field(default=0, ge=0, description="Evaluation processes (0: one per core).")
    lock_lease_minutes: float = Field(
        default=30, gt=0, description="A lock held from another host without a heartbeat this long is taken over.")
    step_source: StepSourceSettings = StepSourceSettings()


class Settings(BaseSettings):
    """Everything a deployment configures."""

    model_config = SettingsConfigDict(
        env_prefix="ISOBRIDGE_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    ledger: LedgerSettings = LedgerSettings()
    calendar: CalendarSettings = CalendarSettings()
    procedures: ProceduresSettings = ProceduresSettings()
    privacy: PrivacySettings = PrivacySettings()
    sync: SyncSettings = SyncSettings()
    documents: DocumentSettings = DocumentSettings()
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sinks: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("sources", "sinks")
    @classmethod
    def _hide_secrets(cls, tables: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Wrap secret-named options (password, token, …) in SecretStr so no repr shows them."""
        return {name: _wrap_secrets(table) for name, table in tables.items()}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment over secret files over the TOML file given to :func:`load_settings`."""
        chosen: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        secrets_dir = os.environ.get("ISOBRIDGE_SECRETS_DIR")
        if secrets_dir:
            chosen.append(
                NestedSecretsSettingsSource(
                    file_secret_settings, secrets_dir=secrets_dir, secrets_nested_delimiter="__", secrets_prefix=""
                )
            )
        toml_file = _CONFIG_FILE.get("path")
        if toml_file is not None:
            chosen.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(chosen)

    def secrets(self) -> list[str]:
        """Every secret value in these settings (for log redaction)."""
        values = [self.privacy.pseudonym_key.get_secret_value()] if self.privacy.pseudonym_key else []
        for table in (*self.sources.values(), *self.sinks.values()):
            values.extend(_secret_values(table))
        return [value for value in values if value]


_CONFIG_FILE: dict[str, Path | None] = {}

SECRET_HINTS = ("password", "secret", "token", "api_key", "apikey", "credentials", "pseudonym_key")


def _is_secret(name: str) -> bool:
    return name.lower().endswith(SECRET_HINTS)


def _wrap_secrets(table: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _wrap_secrets(value) if isinstance(value, dict)
        else SecretStr(value) if isinstance(value, str) and _is_secret(key) else value
        for key, value in table.items()
    }


def _secret_values(table: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for name, value in table.items():
        if isinstance(value, dict):
            found.extend(_secret_values(value))
        elif isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, str) and _is_secret(name):
            found.append(value)
    return found


def load_settings(path: str | Path | None = None) -> Settings:
    """Settings from a TOML file (optional) with environment and secret-file overrides."""
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"{path}: configuration file not found")
    _CONFIG_FILE["path"] = Path(path) if path is not None else None
    try:
        settings = Settings()
    finally:
        _CONFIG_FILE.clear()
    base = Path(path).resolve().parent if path is not None else Path.cwd()
    return _resolve_paths(settings, base)


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths in the file are relative to the file's folder."""
    for section, attr in ((settings.ledger, "path"), (settings.calendar, "file"), (settings.procedures, "dir")):
        value: Path = getattr(section, attr)
        if not value.is_absolute():
            setattr(section, attr, base / value)
    return settings
