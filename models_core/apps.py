from django.apps import AppConfig


class ModelsCoreConfig(AppConfig):
    name = "models_core"
    verbose_name = "Models and training"
    default_auto_field = "django.db.models.BigAutoField"
