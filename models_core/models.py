"""Corpora, training runs, checkpoints, metric curves and decodings."""
