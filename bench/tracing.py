"""The tracing setup the bench measures: the OpenTelemetry SDK exporting to nowhere.

A ``TracerProvider`` with the ``BatchSpanProcessor`` a production app would use and an exporter
that drops every batch: what tracing costs the client, with no network or serialisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["dropping_tracer_provider"]


def dropping_tracer_provider() -> Any:
    """A new SDK ``TracerProvider`` whose spans are batched and then dropped (ImportError
    without ``opentelemetry-sdk``)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class DroppingExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
    return provider
