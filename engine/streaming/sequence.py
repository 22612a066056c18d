"""``Sequence``: a dataset of batches with random access, safe to read from several workers.

Subclasses implement ``__getitem__(index)`` (one whole batch) and ``__len__`` (the number of
batches). ``on_epoch_end`` runs once after every epoch (shuffle sample order there). Because
batches are fetched by index, every batch is seen exactly once per epoch even when threads or
processes prefetch them, which a plain generator cannot promise.
"""
from __future__ import annotations


class Sequence:
    """Base object for fitting to a sequence of data, such as a dataset (Keras's ``utils.Sequence``).

    Example::

        class CifarSequence(Sequence):
            def __init__(self, x, y, batch_size):
                self.x, self.y, self.batch_size = x, y, batch_size

            def __len__(self):
                return math.ceil(len(self.x) / self.batch_size)

            def __getitem__(self, idx):
                lo = idx * self.batch_size
                return self.x[lo:lo + self.batch_size], self.y[lo:lo + self.batch_size]

    With ``use_multiprocessing=True`` the object is sent to spawned worker processes, so it
    must be defined at module level; it is sent again after each ``on_epoch_end``.
    """

    def __getitem__(self, index):
        """Batch number ``index``: ``(inputs, targets)`` or ``(inputs, targets, sample_weights)``."""
        raise TypeError(f"{type(self).__name__} must implement __getitem__(index), returning one batch")

    def __len__(self):
        """Number of batches in the Sequence."""
        raise TypeError(f"{type(self).__name__} must implement __len__(), the number of batches")

    def on_epoch_end(self):
        """Called once at the end of every epoch (e.g. to reshuffle the samples)."""

    def __iter__(self):
        """The batches once, in order."""
        for i in range(len(self)):
            yield self[i]
