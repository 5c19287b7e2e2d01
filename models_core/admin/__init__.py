"""Admin: researchers import corpora, queue runs and the paper's four models, watch them train,
compare them and decode with them here. One module a concern; importing them registers them.
"""

from models_core.admin import corpora, decoding, experiments, runs

__all__ = ["corpora", "decoding", "experiments", "runs"]
