"""Saving and loading: model JSON (Keras 3 written; Keras 3 and Keras 2 read), weights files, model files."""
