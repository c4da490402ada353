"""Fault and latency injection rules, settable from any thread.

Rules live in an immutable tuple that is swapped whole under a lock, so the server's loop
reads them without locking; with no rule set, requests skip matching entirely.
"""

from __future__ import annotations

import ipaddress
import re
import struct
import threading
from dataclasses import dataclass

from ..errors import CQLError, InjectedError
from ..wire.notations import string

__all__ = ["FAULT_ERRORS", "FaultRules", "Outcome", "Rule"]

_SHORT = struct.Struct(">H")
_INT = struct.Struct(">i")

#: fault name -> (protocol error code, default message)
FAULT_ERRORS: dict[str, tuple[int, str]] = {
    "server_error": (0x0000, "Injected server error"),
    "unavailable": (0x1000, "Cannot achieve consistency level (injected unavailable)"),
    "overloaded": (0x1001, "Injected overloaded: server is overloaded"),
    "is_bootstrapping": (0x1002, "Injected: cannot read from a bootstrapping node"),
    "write_timeout": (
        0x1100,
        "Operation timed out - received only 0 responses (injected write timeout)",
    ),
    "read_timeout": (
        0x1200,
        "Operation timed out - received only 0 responses (injected read timeout)",
    ),
    "read_failure": (
        0x1300,
        "Operation failed - received 0 responses and 1 failures: UNKNOWN from the node "
        "(injected read failure)",
    ),
    "write_failure": (
        0x1500,
        "Operation failed - received 0 responses and 1 failures: UNKNOWN from the node "
        "(injected write failure)",
    ),
}
_FAILURE_UNKNOWN = 0x0000


def _failures(protocol_version: int, address: str) -> bytes:
    """One failed replica: a count up to v4, v5's reason map (address -> failure code) after."""
    if protocol_version < 5:
        return _INT.pack(1)
    packed = ipaddress.ip_address(address).packed
    return _INT.pack(1) + bytes([len(packed)]) + packed + _SHORT.pack(_FAILURE_UNKNOWN)


def build_error(
    error: str,
    consistency: int,
    message: str | None,
    protocol_version: int = 4,
    address: str = "127.0.0.1",
) -> CQLError:
    """The ERROR frame Cassandra would send, with the fields each error carries."""
    code, default = FAULT_ERRORS[error]
    extra = b""
    head = _SHORT.pack(consistency) + _INT.pack(0) + _INT.pack(1)  # received 0, block for 1
    if error == "unavailable":
        extra = _SHORT.pack(consistency) + _INT.pack(1) + _INT.pack(0)  # required 1, alive 0
    elif error == "write_timeout":
        extra = head + string("SIMPLE")
    elif error == "read_timeout":
        extra = head + b"\x00"
    elif error == "read_failure":
        extra = head + _failures(protocol_version, address) + b"\x00"
    elif error == "write_failure":
        extra = head + _failures(protocol_version, address) + string("SIMPLE")
    return InjectedError(code, message or default, extra)


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str  # latency | fail | blackhole
    pattern: re.Pattern[str] | None
    seconds: float = 0.0
    error: str = ""
    message: str | None = None

    def matches(self, texts: tuple[str, ...]) -> bool:
        if self.pattern is None:
            return True
        return any(self.pattern.search(text) for text in texts)


@dataclass(slots=True)
class Outcome:
    latency: float = 0.0
    error: Rule | None = None
    blackhole: bool = False


class FaultRules:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: tuple[Rule, ...] = ()

    def add(self, rule: Rule) -> None:
        with self._lock:
            self.rules = (*self.rules, rule)

    def clear(self) -> None:
        with self._lock:
            self.rules = ()

    def evaluate(self, texts: tuple[str, ...]) -> Outcome | None:
        """Combined effect of the rules matching a request, or None when none match.

        Latencies add up; the first matching failure wins; a blackhole beats both.
        """
        rules = self.rules
        if not rules:
            return None
        outcome: Outcome | None = None
        for rule in rules:
            if not rule.matches(texts):
                continue
            if outcome is None:
                outcome = Outcome()
            if rule.kind == "latency":
                outcome.latency += rule.seconds
            elif rule.kind == "fail":
                if outcome.error is None:
                    outcome.error = rule
            else:
                outcome.blackhole = True
        return outcome


def compile_pattern(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise TypeError(
            f"pattern must be a regular expression string or None, got {type(pattern).__name__}"
        )
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"invalid fault pattern {pattern!r}: {exc}") from None
