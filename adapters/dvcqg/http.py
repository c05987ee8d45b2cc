"""Minimal HTTP fetch of portal payloads (isolated here until the shared client in core/http.py lands)."""

from __future__ import annotations

import requests
from pydantic import SecretStr


def fetch_payload(url: str, token: SecretStr | None, verify: bool | str, timeout: float,
                  max_bytes: int) -> bytes:
    """The body of ``GET url`` (a DongBoHoSoMC / CapNhatTienDoHoSoMC JSON body or list); TLS verified."""
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    with requests.get(url, headers=headers, verify=verify, timeout=timeout, stream=True) as response:
        response.raise_for_status()
        body = bytearray()
        for chunk in response.iter_content(65536):
            body += chunk
            if len(body) > max_bytes:
                raise ValueError(f"{url}: response larger than {max_bytes} bytes")
    return bytes(body)
