"""Top-level URL map. Each surface has its own urls module (docs/architecture.md)."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("console.api.urls")),  # native REST API, OpenAPI schema and docs, TiCDC /api/v1/
    path("", include("console.api.compat.urls")),  # manager MetaData, Bifrost, CCR, /metrics
    path("", include("console.urls")),  # the browser console
]
