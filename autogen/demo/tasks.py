"""The demo's one Celery task: its surveys, decoded on the worker that trained the models.

The worker the demo starts imports this module (``--include autogen.demo.tasks``); the task
goes to the ``gpu`` queue, where decoding belongs.
"""

from celery import shared_task

from autogen.demo.surveys import demo_surveys_create
from models_core import selectors

SURVEYS_TASK = "autogen.demo.surveys"
SURVEYS_QUEUE = "gpu"


@shared_task(name=SURVEYS_TASK)
def demo_surveys(experiment_id: int, per_model: int, seed: int = 0) -> list[int]:
    """Decode the demo's survey material from the experiment's runs; the two survey ids."""
    experiment = selectors.experiment_get(experiment_id)
    return demo_surveys_create(experiment, per_model=per_model, seed=seed)
