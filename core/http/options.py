"""HTTP settings an adapter embeds as its `http` table."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class HttpOptions(BaseModel):
    """HTTP settings an adapter embeds as its `http` table."""

    model_config = ConfigDict(extra="forbid")

    connect_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a connection.")
    read_timeout: float = Field(60.0, gt=0, description="Seconds to wait for response bytes.")
    max_attempts: int = Field(5, ge=1, le=50, description="Attempts per request, the first included.")
    max_retry_seconds: float = Field(300.0, ge=0, description="Give up retrying after this long.")
    backoff_seconds: float = Field(1.0, ge=0, description="First backoff; doubles per attempt.")
    backoff_max_seconds: float = Field(60.0, ge=0, description="Longest single backoff.")
    retry_after_max_seconds: float = Field(300.0, ge=0, description="Cap on a server's Retry-After.")
    rate_limit: float = Field(5.0, ge=0, description="Requests per second to this source; 0 = unlimited.")
    verify_tls: bool = Field(True, description="Verify the server certificate (keep on).")
    ca_bundle: Path | None = Field(None, description="PEM file of the CA that signed the server certificate.")
    trust_env: bool = Field(True, description="Take proxies (HTTPS_PROXY, NO_PROXY) from the environment.")
    total_timeout: float = Field(300.0, gt=0, description="Wall-clock seconds one attempt may take, "
                                 "connection to last body byte (a server trickling bytes is cut off).")
    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="Largest response body, counted "
                                "after decompression (an endless body or a gzip bomb is cut off).")
    max_run_seconds: float = Field(3 * 3600.0, ge=0, description="Wall-clock seconds of all requests of "
                                   "one run (from the client's creation); later calls fail. 0 = no limit.")
    user_agent: str = "isobridge/0.1"
