"""Streaming training data: ``Sequence``, the prefetching enqueuers and the adapter ``fit`` uses for
generators and Sequences (Keras 2's ``fit_generator`` machinery)."""
from engine.streaming.adapter import StreamDataAdapter, describe, is_sequence
from engine.streaming.enqueuer import InlineEnqueuer, ProcessEnqueuer, RemoteTraceback, ThreadEnqueuer
from engine.streaming.sequence import Sequence

__all__ = [
    "InlineEnqueuer", "ProcessEnqueuer", "RemoteTraceback", "Sequence", "StreamDataAdapter", "ThreadEnqueuer",
    "describe", "is_sequence",
]
