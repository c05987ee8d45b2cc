"""Minimal HTTP fetch of edXML packets (isolated here until the shared client in core/http.py lands).

The endpoint answers ``GET url?after=<last id>`` with a JSON list of ``{"id": ..., "edxml": "<xml>"}``
objects in id order: the packets received after that id.
"""

from __future__ import annotations

import requests
from pydantic import SecretStr


def fetch_packets(url: str, after: str | None, token: SecretStr | None, verify: bool | str,
                  timeout: float) -> list[tuple[str, bytes]]:
    """(id, packet bytes) of the packets after `after`; TLS verification stays on unless configured off."""
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    params = {"after": after} if after else {}
    response = requests.get(url, params=params, headers=headers, verify=verify, timeout=timeout)
    response.raise_for_status()
    items = response.json()
    if not isinstance(items, list):
        raise ValueError(f"{url}: expected a JSON list of packets")
    return [(str(item["id"]), str(item["edxml"]).encode("utf-8")) for item in items]
