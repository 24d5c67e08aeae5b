from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from portal import health
from portal.accounts import views as accounts_views
from portal.core import batches

admin.site.site_header = "AI stack control plane"
admin.site.site_title = "Portal admin"
admin.site.index_title = "LiteLLM, LibreChat and connectivity"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Before admin.site.urls, so the admin's login is rate-limited like the site's.
    path("admin/login/", accounts_views.admin_login),
    # A bulk action's progress page (portal/core/batches.py), behind the admin's login.
    path(
        "admin/progress/<str:token>/",
        admin.site.admin_view(batches.batch_progress_view),
        name="portal_batch_progress",
    ),
    path("admin/", admin.site.urls),
    path("", include("portal.accounts.urls")),
    path("", include("portal.access.urls")),
]
