"""REST evidence sink (registered as the sink `rest`)."""

from isobridge.core.hookspecs import hookimpl

from .sink import PushBatch, RestPushOptions, RestPushSink, batch_key, push_schema

__all__ = ["PushBatch", "RestPushOptions", "RestPushSink", "batch_key", "push_schema"]


@hookimpl
def register_sinks(register) -> None:
    """Register the `rest` sink."""
    register(RestPushSink)
