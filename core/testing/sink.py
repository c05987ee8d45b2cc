"""The sink contract suite: subclass :class:`SinkContract` in a test module and give fixtures.

::

    class TestMySink(SinkContract):
        adapter = MySink

        @pytest.fixture
        def options(self, tmp_path):      # a working sink
            ...
        @pytest.fixture
        def delivered(self, ...):         # () -> list of keys (dossier@revision) the destination holds,
            ...                           #    a key twice if it was delivered twice
        @pytest.fixture
        def rejectable(self):             # an EvidenceItem the sink refuses (or None)
            ...
"""

from __future__ import annotations

import copy
import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from isobridge.core.adapters import CheckResult, EvidenceItem, Sink, WriteResult

from ._support import make_context, make_options, option_values, leaks, sample_evidence, transcript


class SinkContract:
    """Contract suite every sink adapter passes (see the module docstring for the fixtures)."""

    adapter: ClassVar[type[Sink]]
    dedupes_by_key: ClassVar[bool] = True
    """False for sinks that are exactly-once only through `context.state` (file sinks truncating to
    their committed offset): an acknowledged key is never sent again by the host, so the two
    replay-after-acknowledgement checks are skipped; the crash check still runs."""

    # -- fixtures a test class overrides ----------------------------------------------------------
    @pytest.fixture
    def options(self) -> dict[str, Any]:
        """Options of a working sink."""
        pytest.fail(f"{type(self).__name__}: define an `options` fixture", pytrace=False)

    @pytest.fixture
    def delivered(self) -> Callable[[], list[str]]:
        """A function listing the keys the destination holds (duplicates repeated)."""
        pytest.fail(f"{type(self).__name__}: define a `delivered` fixture", pytrace=False)

    @pytest.fixture
    def rejectable(self) -> EvidenceItem | None:
        """An item this sink must refuse with a reason; None skips the partial-failure check."""
        return None

    @pytest.fixture
    def secret(self) -> str:
        """A secret value: put it into `options` so the leak check can look for it."""
        return "kit-secret-" + secrets.token_hex(8)

    @pytest.fixture
    def ledger_path(self, tmp_path):
        """The ledger database a sink may write into (context.ledger_path)."""
        return tmp_path / "kit-ledger.db"

    # -- helpers ----------------------------------------------------------------------------------
    def open(self, options: dict[str, Any], state: dict | None = None, ledger_path=None) -> Sink:
        """A sink instance opened with the given persisted state, as the host does."""
        return self.adapter(make_options(self.adapter, options), make_context("kit-sink", state, ledger_path=ledger_path))

    def write(self, sink: Sink, batch: list[EvidenceItem]) -> WriteResult:
        """Write a batch and check the acknowledgement covers exactly the batch's keys."""
        result = sink.write(batch)
        assert isinstance(result, WriteResult), f"write() returned {type(result).__name__}, not WriteResult"
        keys = {item.key for item in batch}
        accepted, rejected = set(result.accepted), set(result.rejected)
        assert not accepted & rejected, f"keys both accepted and rejected: {sorted(accepted & rejected)[:3]}"
        assert keys <= accepted | rejected, f"keys neither accepted nor rejected: {sorted(keys - accepted - rejected)[:3]}"
        assert accepted | rejected <= keys, f"acknowledged keys not in the batch: {sorted(accepted | rejected - keys)[:3]}"
        for key, reason in result.rejected.items():
            assert isinstance(reason, str) and reason.strip(), f"{key} rejected without a reason"
        return result

    @staticmethod
    def assert_once(delivered: list[str], keys: list[str]) -> None:
        """Each key delivered exactly once."""
        counts = Counter(delivered)
        twice = [k for k in keys if counts[k] > 1]
        missing = [k for k in keys if counts[k] == 0]
        assert not twice, f"delivered more than once: {twice[:3]}"
        assert not missing, f"acknowledged but not delivered: {missing[:3]}"

    # -- the checks -------------------------------------------------------------------------------
    def test_check(self, options, ledger_path):
        """Contract: check."""
        sink = self.open(options, ledger_path=ledger_path)
        try:
            result = sink.check()
        finally:
            sink.close()
        assert isinstance(result, CheckResult) and result.ok, f"check() refused working options: {result}"

    def test_batch_acknowledged_item_by_item(self, options, delivered, ledger_path):
        """Contract: batch acknowledged item by item."""
        batch = sample_evidence(6)
        sink = self.open(options, ledger_path=ledger_path)
        try:
            result = self.write(sink, batch)
        finally:
            sink.close()
        assert set(result.accepted) == {i.key for i in batch}, f"valid evidence rejected: {result.rejected}"
        self.assert_once(delivered(), [i.key for i in batch])

    def test_empty_batch(self, options, delivered, ledger_path):
        """Contract: empty batch."""
        sink = self.open(options, ledger_path=ledger_path)
        try:
            result = self.write(sink, [])
        finally:
            sink.close()
        assert not result.accepted and not result.rejected
        assert delivered() == [], "an empty batch delivered something"

    def test_replayed_batch_delivered_once(self, options, delivered, ledger_path):
        """Contract: replayed batch delivered once."""
        if not self.dedupes_by_key:
            pytest.skip("exactly-once through its committed state only (dedupes_by_key = False)")
        batch = sample_evidence(5)
        sink = self.open(options, ledger_path=ledger_path)
        try:
            self.write(sink, batch)
            again = self.write(sink, sample_evidence(5))
        finally:
            sink.close()
        assert set(again.accepted) == {i.key for i in batch}, "a replayed batch must be acknowledged again"
        self.assert_once(delivered(), [i.key for i in batch])

    def test_replay_after_reopening_delivered_once(self, options, delivered, ledger_path):
        """Contract: replay after reopening delivered once."""
        if not self.dedupes_by_key:
            pytest.skip("exactly-once through its committed state only (dedupes_by_key = False)")
        batch, state = sample_evidence(5), {}
        sink = self.open(options, state, ledger_path)
        self.write(sink, batch)
        sink.close()
        sink = self.open(options, copy.deepcopy(state), ledger_path)
        try:
            self.write(sink, sample_evidence(5))
        finally:
            sink.close()
        self.assert_once(delivered(), [i.key for i in batch])

    def test_unacknowledged_batch_after_crash_delivered_once(self, options, delivered, ledger_path):
        """Contract: unacknowledged batch after crash delivered once."""
        first, second, state = sample_evidence(4), sample_evidence(4, start=4), {}
        sink = self.open(options, state, ledger_path)
        self.write(sink, first)
        acknowledged = copy.deepcopy(state)  # what the host persisted with the acknowledgement
        self.write(sink, second)  # written, but the process dies before the host stores the ack
        sink.close()
        sink = self.open(options, acknowledged, ledger_path)
        try:
            self.write(sink, sample_evidence(4, start=4))
        finally:
            sink.close()
        self.assert_once(delivered(), [i.key for i in first + second])

    def test_new_revision_is_delivered(self, options, delivered, ledger_path):
        """Contract: new revision is delivered."""
        sink = self.open(options, ledger_path=ledger_path)
        try:
            self.write(sink, sample_evidence(2, revision=1))
            self.write(sink, sample_evidence(2, revision=2))
        finally:
            sink.close()
        keys = [i.key for i in sample_evidence(2, revision=1) + sample_evidence(2, revision=2)]
        self.assert_once(delivered(), keys)

    def test_partial_failure_rejects_with_reason(self, options, delivered, rejectable, ledger_path):
        """Contract: partial failure rejects with reason."""
        if rejectable is None:
            pytest.skip("no `rejectable` fixture: this sink accepts any evidence")
        good = sample_evidence(3)
        sink = self.open(options, ledger_path=ledger_path)
        try:
            result = self.write(sink, good + [rejectable])
            self.write(sink, sample_evidence(3))  # the host resends only what it must: no duplicates
        finally:
            sink.close()
        assert rejectable.key in result.rejected, f"{rejectable.key} was not rejected"
        assert set(result.accepted) == {i.key for i in good}, "the good items of a partly bad batch were refused"
        self.assert_once(delivered(), [i.key for i in good])
        assert rejectable.key not in delivered(), "a rejected item was delivered anyway"

    def test_secrets_never_in_logs_or_errors(self, options, secret, ledger_path):
        """Contract: secrets never in logs or errors."""
        if not any(secret in value for value in option_values(options)):
            pytest.skip("the options carry no secret (put the `secret` fixture's value into them)")
        with transcript() as seen:
            try:
                sink = self.open(options, ledger_path=ledger_path)
                seen.add(repr(sink), repr(sink.options), sink.options.model_dump_json(), sink.check())
                seen.add(sink.write(sample_evidence(2)))
                sink.close()
            except Exception as exc:
                seen.error(exc)
        assert not leaks(seen.text, [secret]), "the secret appears in logs, errors or reprs"
