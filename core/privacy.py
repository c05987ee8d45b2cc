"""Keyed pseudonyms for citizens' personal data (names, ID numbers, phones, addresses).

Internal module: plugins import its public names from `isobridge.core` (the face).

A pseudonym is an HMAC-SHA256 of the normalised value under a key from settings: the same
person gets the same pseudonym across sources and runs (repeat cases can still be counted),
and nobody without the key can reverse it or test a guess.
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import os
import re
import unicodedata

PERSONAL_FIELDS = frozenset({
    "applicant", "applicant_name", "applicant_id", "id_number", "phone", "email", "address",
})
"""Field names (in canonical records) that hold personal data and are pseudonymised."""
EVENT_PERSONAL_FIELDS = frozenset({"actor"})
"""Event fields naming a person (the officer who recorded it), pseudonymised too."""
PSEUDONYM = re.compile(r"p-[0-9a-f]{25}")
"""What a pseudonym looks like."""
_NAMES = "|".join(sorted(PERSONAL_FIELDS | EVENT_PERSONAL_FIELDS))
_PERSONAL_PAIR = re.compile(
    rf'"(?P<name>{_NAMES})"(?P<colon>\s*:\s*)'
    r'(?:"(?P<text>(?:[^"\\]|\\.)*)(?:"|\\?$)|(?P<number>-?[0-9][0-9.eE+-]*))')
"""A personal field and its value in JSON text, also a text value cut off by the end of the line."""


def normalise(value: str) -> str:
    """Normalise before hashing: Unicode NFC, case-folded, inner whitespace removed."""
    return "".join(unicodedata.normalize("NFC", value).casefold().split())


class Pseudonymizer:
    """Computes keyed pseudonyms; the key never leaves this object."""

    def __init__(self, key: str | bytes):
        if not key:
            raise ValueError("a pseudonymisation key is required")
        self._key = key.encode() if isinstance(key, str) else key

    def __repr__(self) -> str:
        return "Pseudonymizer(key=***)"

    def pseudonym(self, value: str | None) -> str | None:
        """`p-` followed by 25 hex digits (100 bits of the HMAC), or None for None/empty."""
        if value is None:
            return None
        return self._pseudonym(str(value))

    @functools.lru_cache(maxsize=65536)
    def _pseudonym(self, value: str) -> str | None:
        if not value.strip():
            return None
        if PSEUDONYM.fullmatch(value):
            return value  # already a pseudonym (a replayed record): idempotent
        return "p-" + hmac.digest(self._key, normalise(value).encode(), "sha256").hex()[:25]

    def scrub(self, record: dict) -> dict:
        """A copy of `record` with every personal field replaced by its pseudonym."""
        return {k: self.pseudonym(v) if k in PERSONAL_FIELDS else v for k, v in record.items()}

    def scrub_fragment(self, fragment: dict) -> dict:
        """Pseudonymise, in place, a case-log fragment's personal fields and its events' actors.

        Values that already are pseudonyms (`p-…`) are left alone, so scrubbing twice is harmless.
        """
        for key in PERSONAL_FIELDS.intersection(fragment):
            fragment[key] = self._once(fragment[key])
        events = fragment.get("events")
        if isinstance(events, list):
            once = self._once
            for event in events:
                if isinstance(event, dict):
                    actor = event.get("actor")  # the one event field naming a person, inlined
                    if actor is not None and not (type(actor) is str and actor[:2] == "p-"):
                        event["actor"] = once(actor)
        return fragment

    def scrub_text(self, text: str) -> str:
        """Best effort for JSON text that does not parse (a truncated line, a broken export):
        the value of every personal field found in it is replaced by its pseudonym, a text value
        cut off by the end of the line included."""
        return _PERSONAL_PAIR.sub(self._pair, text)

    def _pair(self, match: re.Match) -> str:
        value = match["text"] if match["text"] is not None else match["number"]
        if match["text"] is not None:
            value = value.replace('\\"', '"').replace("\\\\", "\\")
        return f'"{match["name"]}"{match["colon"]}"{self._once(value) or ""}"'

    def _once(self, value: object) -> str | None:
        if value is None or (isinstance(value, str) and value.startswith("p-")):
            return value  # type: ignore[return-value]
        return self.pseudonym(str(value))


# -- the quarantine: originals sealed, operators shown a scrubbed view ------------------------------

SEALED = "sealed:v1:"
"""Prefix of a quarantined payload sealed with AES-256-GCM (then base64 of nonce + ciphertext)."""


class PayloadSeal:
    """Seals quarantined payloads: AES-256-GCM under a key derived (HKDF-SHA256) from the
    pseudonym key, bound to its quarantine entry (source, key, stage) as associated data.
    Only a holder of the pseudonym key can read or replay them."""

    def __init__(self, secret: str | bytes):
        self._material = secret.encode() if isinstance(secret, str) else secret
        self._cipher = None

    @property
    def _aead(self):
        """The cipher, made on first use (a run that quarantines nothing never loads OpenSSL)."""
        if self._cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            from cryptography.hazmat.primitives.hashes import SHA256
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF

            key = HKDF(SHA256(), 32, salt=None, info=b"isobridge quarantine payload v1").derive(self._material)
            self._cipher = AESGCM(key)
        return self._cipher

    def __repr__(self) -> str:
        return "PayloadSeal(key=***)"

    def seal(self, payload: str, context: str) -> str:
        """The sealed form of `payload` (already sealed text is returned as it is)."""
        if payload.startswith(SEALED):
            return payload
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, payload.encode("utf-8", "surrogatepass"), context.encode())
        return SEALED + base64.b64encode(nonce + sealed).decode()

    def open(self, stored: str, context: str) -> str:
        """The original payload; text that was never sealed comes back as it is. Raises
        ValueError when it cannot be opened (another key, or altered)."""
        if not stored.startswith(SEALED):
            return stored
        from cryptography.exceptions import InvalidTag

        try:
            raw = base64.b64decode(stored[len(SEALED):], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode("utf-8", "surrogatepass")
        except (InvalidTag, ValueError) as exc:
            raise ValueError("the payload cannot be opened with this deployment's pseudonym key") from exc


STRUCTURAL_KEYS = frozenset({
    "dossier", "procedure", "agency", "channel", "received_at", "due_at", "status",
    "at", "kind", "step", "from_unit", "unit", "new_due_at",
})
"""Keys whose text values are shown as they are in a scrubbed view (codes, instants, units)."""
_CODE = re.compile(r"(?=[^\s@]*[A-Za-z])(?=[^\s@]*[0-9])[^\s@]{1,80}")
"""A code or instant: letters and digits, no space, no `@` (names have no digits, ID numbers
and phones no letters, addresses spaces, e-mails `@`)."""
_RUN = re.compile(r"[^\s,;|<>\"'=:{}\[\]\\]+(?:[ \t]+[^\s,;|<>\"'=:{}\[\]\\]+)*")


def _shown(text: str) -> bool:
    if len(text) <= 3 or _CODE.fullmatch(text):
        return True
    return False


class PayloadScrubber:
    """A view of a payload fit to print: every free-text value not on the structural allow-list
    becomes its pseudonym (JSON: by key; any other text: every run of words that is not a
    single plain token or a code)."""

    def __init__(self, pseudonymizer: Pseudonymizer):
        self.pseudonymizer = pseudonymizer

    def view(self, payload: str) -> str:
        """The scrubbed view of a payload."""
        try:
            data = json.loads(payload)
        except ValueError:
            return _RUN.sub(self._run, payload)
        return json.dumps(self._value(data, None), ensure_ascii=False)

    def _value(self, value: object, key: str | None) -> object:
        if isinstance(value, dict):
            return {name: self._value(item, name) for name, item in value.items()}
        if isinstance(value, list):
            return [self._value(item, key) for item in value]
        if isinstance(value, str):
            if key in STRUCTURAL_KEYS or _shown(value) or PSEUDONYM.fullmatch(value):
                return value
            return self.pseudonymizer.pseudonym(value)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1_000_000:
            return self.pseudonymizer.pseudonym(str(value))  # an ID number or a phone as a number
        return value

    def _run(self, match: re.Match) -> str:
        text = match.group()
        plain = text.isascii() and " " not in text and "\t" not in text and not text.isdigit()
        if plain or _shown(text) or PSEUDONYM.fullmatch(text):
            return text
        return self.pseudonymizer.pseudonym(text) or ""
