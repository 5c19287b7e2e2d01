"""The demo: the whole product on one machine, from real books to open surveys.

``manage.py demo`` (the ``make demo`` target) is a thin command over the steps in this package:
:mod:`.corpus` (the books), :mod:`.training` (the paper's four models, with a progress bar per
model), :mod:`.surveys` (decoded on the worker into the two surveys), :mod:`.worker` (the Celery
worker it starts and stops) and :mod:`.steps` (them in order, idempotently). The constants here
import nothing of Django, so the benchmarks can share them.
"""

# The preset the demo trains at (``models_core.nn.config``): all four models in about ten
# minutes on two CPU cores. ``--fast`` (tests) trains at ``demo-fast``: ``tiny``'s sizes with
# a real book's vocabulary.
DEMO_PRESET = "demo"
FAST_PRESET = "demo-fast"
# A small test split (~480 of Austen's ~22,000 sentences): each run's evaluation scores every
# test sentence with 100 importance samples, which must take seconds, not minutes, on a CPU.
DEMO_TEST_FRACTION = 0.02
