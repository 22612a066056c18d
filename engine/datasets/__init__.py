"""Datasets larger than memory, with random access: memory-mapped ``.npy`` / ``.npz`` arrays, CSV
files read by row, image folders; and :class:`ArraySequence` to batch them for ``fit``."""
from engine.datasets.csv_array import CsvArray
from engine.datasets.images import image_folder
from engine.datasets.mapped import MappedArray, open_npy
from engine.datasets.npz import open_npz
from engine.datasets.sequence import ArraySequence

__all__ = ["ArraySequence", "CsvArray", "MappedArray", "image_folder", "open_npy", "open_npz"]
