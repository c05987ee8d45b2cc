"""REST evidence sink (registered as the sink `rest`)."""

from isobridge.core import hookimpl

from .sink import PushAnswer, PushBatch, RestPushOptions, RestPushSink, batch_key, push_answer_schema, push_schema

__all__ = ["PushAnswer", "PushBatch", "RestPushOptions", "RestPushSink", "batch_key", "push_answer_schema",
           "push_schema"]


@hookimpl
def register_sinks(register) -> None:
    """Register the `rest` sink."""
    register(RestPushSink)
