"""Secret files under `ISOBRIDGE_SECRETS_DIR`: one file per key, nested by `__` in its name or by folders.

`privacy__pseudonym_key` and `privacy/pseudonym_key` give the same setting (a Kubernetes secret
mounted as files uses the first; hidden entries such as its `..data` folder are skipped). Values
lose surrounding whitespace (the newline `echo` leaves). Reads are bounded: a file larger than
:data:`MAX_SECRET_BYTES` or not UTF-8 is an error naming it, never read whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from .errors import ConfigurationError

MAX_SECRET_BYTES = 64 * 1024


def secret_files(folder: Path) -> list[Path]:
    """The files of a secrets folder, hidden ones (and those in hidden folders) left out."""
    try:
        return sorted(path for path in folder.rglob("*") if path.is_file()
                      and not any(part.startswith(".") for part in path.relative_to(folder).parts))
    except OSError:
        return []


def secret_keys(folder: Path, path: Path) -> list[str]:
    """The settings path of a secret file: `sinks/qms/auth__token` → sinks, qms, auth, token."""
    return [key.lower() for part in path.relative_to(folder).parts for key in part.split("__")]


class SecretFilesSource(PydanticBaseSettingsSource):
    """Settings from the files of a secrets folder (below the environment, above the TOML file)."""

    def __init__(self, settings_cls: type[BaseSettings], folder: Path):
        super().__init__(settings_cls)
        self.folder = folder

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: :meth:`__call__` reads every file at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Every secret file as a nested dictionary of settings."""
        values: dict[str, Any] = {}
        for path in secret_files(self.folder):
            keys = secret_keys(self.folder, path)
            if not all(keys):
                raise ConfigurationError(f"secret file {path}: an empty key in its name (three underscores?)")
            table = values
            for key in keys[:-1]:
                table = table.setdefault(key, {})
                if not isinstance(table, dict):
                    raise ConfigurationError(f"secret file {path}: {'.'.join(keys)} is below a key that has a value")
            if isinstance(table.get(keys[-1]), dict):
                raise ConfigurationError(f"secret file {path}: {'.'.join(keys)} is a table, not a value")
            table[keys[-1]] = _read(path)
        return values


def _read(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(f"secret file {path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_SECRET_BYTES:
        raise ConfigurationError(f"secret file {path}: larger than {MAX_SECRET_BYTES} bytes")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigurationError(f"secret file {path}: not UTF-8 text") from None
