"""The rater flow's URLs: each carries only an opaque token (a survey's or a rater's)."""

from django.urls import path

from surveys import views

app_name = "surveys"

urlpatterns = [
    path("s/<slug:survey_token>/", views.survey_start, name="start"),
    path("r/<slug:rater_token>/", views.question, name="question"),
    path("r/<slug:rater_token>/done", views.done, name="done"),
]
