"""Driver policies with safer defaults than the driver's own.

The driver's ``RetryPolicy.on_request_error`` retries on the next host whatever the statement
is. For overloaded nodes, server errors and connections lost mid-request the first node may
already have applied the write, so a non-idempotent statement (a counter increment, a list
append, an LWT) could be applied twice. This policy retries those only for statements marked
``is_idempotent=True``, as the Java driver does.
"""

from __future__ import annotations

from typing import Any

from cassandra.policies import RetryPolicy
from cassandra.protocol import IsBootstrappingErrorMessage

__all__ = ["IdempotenceAwareRetryPolicy"]


class IdempotenceAwareRetryPolicy(RetryPolicy):  # type: ignore[misc]
    """The driver's default retry policy, minus unsafe retries of non-idempotent statements."""

    def on_request_error(
        self, query: Any, consistency: Any, error: Exception, retry_num: int
    ) -> tuple[int, Any]:
        # A bootstrapping node refuses requests before executing them: another host is safe.
        if isinstance(error, IsBootstrappingErrorMessage) or getattr(query, "is_idempotent", False):
            decision: tuple[int, Any] = super().on_request_error(
                query, consistency, error, retry_num
            )
            return decision
        return self.RETHROW, None
