"""Deployment settings: a TOML file plus `ISOBRIDGE_…` environment overrides and secret files.

Precedence (highest first): environment variables (nested with `__`, e.g.
`ISOBRIDGE_SOURCES__ONESTOP__PASSWORD`), secret files under `ISOBRIDGE_SECRETS_DIR` (one file per
key, nested as folders or `sources__onestop__password`; see :mod:`isobridge.core.secret_files`), then
the TOML file.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from . import samples
from .errors import ConfigurationError
from .option_paths import resolve_paths
from .report.agencies import DocumentSettings
from .secret_files import SecretFilesSource
from .settings_problems import ENV_PREFIX, misspelt_setting, origin_of, parsing_problem, problems

SECRETS_DIR_VARIABLE = "ISOBRIDGE_SECRETS_DIR"


class LedgerSettings(BaseModel):
    """`[ledger]`: the embedded SQLite file (`path`), or a shared PostgreSQL database (`url`).

    The PostgreSQL password comes from `password` (set it with `ISOBRIDGE_LEDGER__PASSWORD` or the
    secret file `ledger__password`), never from the file; libpq options in the URL's query (e.g.
    `sslmode=verify-full&sslrootcert=…`) are passed through."""

    model_config = ConfigDict(extra="forbid")
    path: Path = Path("isobridge.db")
    url: str | None = Field(default=None, description="postgresql://user@host:port/database[?libpq options]")
    password: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("expected a postgresql://user@host:port/database URL")
        if parts.password:
            raise ValueError("the URL holds a password: set it with ISOBRIDGE_LEDGER__PASSWORD or the"
                             " secret file ledger__password instead")
        return value

    @property
    def shared(self) -> bool:
        """Whether the ledger is a PostgreSQL database (else the SQLite file `path`)."""
        return self.url is not None

    def where(self) -> str:
        """The ledger's name in messages: its file, or its URL (which holds no password)."""
        return self.url if self.url else str(self.path)


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
    workers: int = Field(default=0, ge=0, description="Evaluation processes (0: one per core this process may use, its CPU affinity).")
    lock_lease_minutes: float = Field(
        default=30, gt=0, description="A lock held from another host without a heartbeat this long is taken over.")
    step_source: StepSourceSettings = StepSourceSettings()


class Settings(BaseSettings):
    """Everything a deployment configures."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    ledger: LedgerSettings = LedgerSettings()
    calendar: CalendarSettings = CalendarSettings()
    procedures: ProceduresSettings = ProceduresSettings()
    privacy: PrivacySettings = PrivacySettings()
    sync: SyncSettings = SyncSettings()
    documents: DocumentSettings = DocumentSettings()
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sinks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    _origin: tuple[Path | None, Path | None] = PrivateAttr(default=(None, None))
    """The configuration file and secrets folder these settings came from (for error messages)."""

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
        secrets_dir = _CONFIG_FILE.get("secrets")
        if secrets_dir is not None:
            chosen.append(SecretFilesSource(settings_cls, secrets_dir))
        toml_file = _CONFIG_FILE.get("path")
        if toml_file is not None:
            chosen.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(chosen)

    def explain(self, exc: ValidationError, where: tuple[str, ...], model: type[BaseModel]) -> str:
        """`exc` (validating `model` at `where`, e.g. a source's options) as one line per problem
        naming the file, variable or secret file of each bad key, its dotted path and the reason."""
        return problems(exc, model, *self._origin, prefix=where)

    def secrets(self) -> list[str]:
        """Every secret value in these settings (for redaction): secret-named options, secret-looking
        query values and passwords inside URLs, each also without surrounding whitespace (a secret
        file's trailing newline) and percent-encoded, as it appears in a URL."""
        values = [secret.get_secret_value() for secret in (self.privacy.pseudonym_key, self.ledger.password) if secret]
        for table in (*self.sources.values(), *self.sinks.values()):
            values.extend(_secret_values(table))
        forms = {form for value in values for form in (value, value.strip(), quote(value.strip(), safe=""))}
        return sorted(form for form in forms if form)


_CONFIG_FILE: dict[str, Path | None] = {}
"""The TOML file and secrets folder of the :func:`load_settings` call under way."""

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
        elif isinstance(value, str) and "://" in value:
            found.extend(_url_secrets(value))
    return found


_SECRET_PARAM = re.compile(r"pass|secret|token|key|auth|session|sig", re.I)


def _url_secrets(url: str) -> list[str]:
    """The password of a URL's user info and its secret-looking query values."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
    except ValueError:
        return []
    return found + [value for key, value in parse_qsl(parts.query) if _SECRET_PARAM.search(key)]


def load_settings(path: str | Path | None = None) -> Settings:
    """Settings from a TOML file (optional) with environment and secret-file overrides.

    Any problem raises :class:`ConfigurationError` with one line naming where the bad key came from
    (the file, an environment variable or a secret file), its dotted path and the reason; never a
    value, so a secret under a misspelt key is not echoed.
    """
    if path is not None and not Path(path).is_file():
        raise ConfigurationError(f"{path}: configuration file not found")
    base = Path(path).resolve().parent if path is not None else Path.cwd()
    secrets_dir = _secrets_dir(base)
    misspelt = misspelt_setting(Settings, secrets_dir)
    if misspelt:
        raise ConfigurationError(misspelt)
    _CONFIG_FILE["path"] = Path(path) if path is not None else None
    _CONFIG_FILE["secrets"] = secrets_dir
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigurationError(problems(exc, Settings, path, secrets_dir)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigurationError(f"{exc.filename or path}: cannot read: {exc.strerror}") from None
    except SettingsError as exc:
        raise ConfigurationError(parsing_problem(exc, path, secrets_dir)) from None
    finally:
        _CONFIG_FILE.clear()
    settings._origin = (Path(path) if path is not None else None, secrets_dir)
    _require_adapters(settings, path, secrets_dir)
    return _resolve_paths(settings, base)


def _secrets_dir(base: Path) -> Path | None:
    """`ISOBRIDGE_SECRETS_DIR`, relative to the configuration file's folder; it must be a folder."""
    value = os.environ.get(SECRETS_DIR_VARIABLE)
    if not value:
        return None
    folder = base / value
    if not folder.is_dir():
        raise ConfigurationError(f"{SECRETS_DIR_VARIABLE}: {folder} is not a folder")
    return folder


def _require_adapters(settings: Settings, path: str | Path | None, secrets_dir: Path | None) -> None:
    """Every source and sink table names its adapter; a key set for an unknown one says so."""
    for kind, tables in (("sources", settings.sources), ("sinks", settings.sinks)):
        for name, table in tables.items():
            if isinstance(table.get("adapter"), str) and table["adapter"]:
                continue
            where = f"{kind}.{name}"
            keys = [key for key in table if key != "adapter"]
            origin = origin_of([kind, name, keys[0]], path, secrets_dir) if keys else str(path or "settings")
            if origin.startswith(("environment", "secret")):
                file = f"{path} has no [{where}]" if path is not None else "no configuration file is given"
                raise ConfigurationError(f"{origin} sets a key of {where}, but {file} (misspelt name?)")
            raise ConfigurationError(f"{origin}: {where}.adapter: missing (name the adapter, e.g. adapter = \"jsonl\")")


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths in the file are relative to the file's folder."""
    for section in (settings.ledger, settings.calendar, settings.procedures):
        resolve_paths(section, base)
    return settings
