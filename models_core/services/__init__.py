"""What researchers do with corpora and runs, once: commands, admin and Celery tasks call these.

One module per concern, their public names gathered here (``services.run_create``):
:mod:`.corpora` (import a corpus), :mod:`.runs` (the run lifecycle), :mod:`.progress`
(recording a training run), :mod:`.evaluation` (metrics and decoding), :mod:`.experiments`
(the paper's four models together), :mod:`.corpus_imports` (imports on workers),
:mod:`.decoding_jobs` (decoding on workers),
:mod:`.enqueue` (sending to workers), :mod:`.work` (what a worker does with a task) and
:mod:`.reconcile` (sending again the queued work a broker lost).
Reads live in :mod:`models_core.selectors`.
"""

from models_core.services.corpora import (
    CORPUS_BAD_NAME,
    CORPUS_EXISTS,
    CORPUS_FOLDER_EXISTS,
    corpus_import,
)
from models_core.services.corpus_imports import (
    IMPORT_ROOT_UNSET,
    NO_FILES,
    OUTSIDE_ROOT,
    UPLOAD_TOO_LARGE,
    corpus_import_check_name,
    corpus_import_run,
    corpus_import_submit,
    corpus_server_files,
    corpus_upload_store,
)
from models_core.services.decoding_jobs import (
    INTERPOLATE_TWO,
    decode_job_check,
    decode_job_create,
    decode_job_run,
    decode_job_submit,
)
from models_core.services.enqueue import (
    corpus_import_enqueue,
    decode_job_enqueue,
    run_enqueue,
    run_evaluation_enqueue,
)
from models_core.services.errors import ServiceError
from models_core.services.evaluation import (
    DECODE_MODES,
    FILTER_MAX_TRIES,
    FILTER_REFUSED,
    run_decode,
    run_evaluate,
    run_trained,
)
from models_core.services.experiments import (
    PAPER_MODELS,
    experiment_configs,
    experiment_create,
    experiment_submit,
)
from models_core.services.progress import (
    CURVE_POINTS_PER_EVAL,
    PROGRESS_SAVE_INTERVAL_S,
    RecordProgress,
)
from models_core.services.reconcile import (
    broker_task_ids,
    reconcile_forever,
    work_reconcile,
)
from models_core.services.runs import (
    ANNEAL_ONLY_FOR_VAE_ANNEAL,
    BATCH_TOO_LARGE,
    M_ONLY_FOR_AUTOGEN,
    NO_DEVICE,
    OBJECTIVES,
    RUN_NOT_TRAINABLE,
    STALE_AFTER,
    RunSetup,
    device_check,
    objective_for,
    run_cancel,
    run_checkpoint_path,
    run_config,
    run_create,
    run_reclaim_stale,
    run_requeue,
    run_resume,
    run_setup,
    run_submit,
    run_train,
    vocab_for,
)
from models_core.services.work import (
    EVALUATION_ERROR,
    run_evaluate_finished,
    run_work,
    worker_reclaim,
)

__all__ = [
    "ANNEAL_ONLY_FOR_VAE_ANNEAL",
    "BATCH_TOO_LARGE",
    "CORPUS_BAD_NAME",
    "CORPUS_EXISTS",
    "CORPUS_FOLDER_EXISTS",
    "CURVE_POINTS_PER_EVAL",
    "DECODE_MODES",
    "EVALUATION_ERROR",
    "FILTER_MAX_TRIES",
    "FILTER_REFUSED",
    "IMPORT_ROOT_UNSET",
    "INTERPOLATE_TWO",
    "M_ONLY_FOR_AUTOGEN",
    "NO_DEVICE",
    "NO_FILES",
    "OBJECTIVES",
    "OUTSIDE_ROOT",
    "PAPER_MODELS",
    "PROGRESS_SAVE_INTERVAL_S",
    "RUN_NOT_TRAINABLE",
    "STALE_AFTER",
    "UPLOAD_TOO_LARGE",
    "RecordProgress",
    "RunSetup",
    "ServiceError",
    "broker_task_ids",
    "corpus_import",
    "corpus_import_check_name",
    "corpus_import_enqueue",
    "corpus_import_run",
    "corpus_import_submit",
    "corpus_server_files",
    "corpus_upload_store",
    "decode_job_check",
    "decode_job_create",
    "decode_job_enqueue",
    "decode_job_run",
    "decode_job_submit",
    "device_check",
    "experiment_configs",
    "experiment_create",
    "experiment_submit",
    "objective_for",
    "reconcile_forever",
    "run_cancel",
    "run_checkpoint_path",
    "run_config",
    "run_create",
    "run_decode",
    "run_enqueue",
    "run_evaluate",
    "run_evaluate_finished",
    "run_evaluation_enqueue",
    "run_reclaim_stale",
    "run_requeue",
    "run_resume",
    "run_setup",
    "run_submit",
    "run_train",
    "run_trained",
    "run_work",
    "vocab_for",
    "work_reconcile",
    "worker_reclaim",
]
