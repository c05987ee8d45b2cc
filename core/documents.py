"""Options and plumbing shared by sources that read documents from a folder or an HTTP endpoint.

Internal module: plugins import its public names from `isobridge.core` (the face).

`edxml` and `dvcqg` (and any plugin of the same kind) take either a `folder` of files read
incrementally (:mod:`isobridge.core.files`) or a `url` pulled through the shared
:class:`~isobridge.core.http.HttpClient` with an optional bearer `token`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, HttpUrl, PositiveInt, SecretStr, model_validator

from .adapters import AdapterContext, AdapterOptions
from .http import BearerAuth, HttpClient, HttpOptions, NoAuth


class DocumentSourceOptions(AdapterOptions):
    """Options of a source reading documents from a folder or an HTTP endpoint (set exactly one)."""

    folder: Path | None = Field(None, description="Folder of document files (relative: to the config file).")
    pattern: str = Field("**/*", description="Glob of the files to read in `folder` (`**` allowed).")
    mapping: Path | None = Field(None, description="Mapping file; None: the adapter's bundled mapping.")
    url: HttpUrl | None = Field(None, description="HTTP endpoint serving the documents instead of a folder.")
    token: SecretStr | None = Field(None, description="Bearer token sent to `url`.")
    http: HttpOptions = Field(default_factory=HttpOptions)
    max_bytes: PositiveInt = Field(64 * 1024 * 1024, description="Larger files are quarantined unread.")
    page_size: PositiveInt = Field(200, description="Records (or files) per page.")

    @model_validator(mode="after")
    def _one_origin(self) -> "DocumentSourceOptions":
        if (self.folder is None) == (self.url is None):
            raise ValueError(f"{self.adapter} source: set exactly one of `folder` and `url`")
        return self


def document_folder(options: DocumentSourceOptions, context: AdapterContext) -> Path | None:
    """The configured folder resolved against the configuration file's folder (None in HTTP mode)."""
    return context.resolve(options.folder) if options.folder is not None else None


def document_client(options: DocumentSourceOptions) -> HttpClient | None:
    """The shared HTTP client for `url` with the bearer token (None in folder mode)."""
    if options.url is None:
        return None
    auth = BearerAuth(options.token) if options.token is not None else NoAuth()
    return HttpClient(str(options.url), options.http, auth=auth)

