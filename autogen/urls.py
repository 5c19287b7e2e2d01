"""URL map: admin for researchers, the health endpoint, app URLs."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from autogen.views import healthz

admin.site.site_header = "AutoGen Lab"
admin.site.site_title = "AutoGen Lab"
admin.site.index_title = "Training runs, surveys and reports"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("", include("surveys.urls")),  # the rater flow: /s/<survey token>/, /r/<rater token>/
]
