"""The admin site: Django's, plus the managers' analytics dashboard at /admin/analytics/dashboard/ and
"How your agent is read" (the checkpoint inspection) at /admin/replay/inspection/."""

from __future__ import annotations

from functools import wraps

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpResponseBadRequest
from django.urls import path, reverse
from django.utils.translation import gettext, gettext_lazy as _


class SupportAdminSite(admin.AdminSite):
    site_header = _("Smart Support back office")
    site_title = _("Smart Support")
    index_title = _("Conversations, replays and analytics")

    def admin_view(self, view, cacheable=False):
        checked = super().admin_view(view, cacheable)

        @wraps(checked)
        def refusing_nul(request, *args, **kwargs):
            # PostgreSQL can neither store nor compare NUL: a filter or search holding one would fail in the query.
            if any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values):
                return HttpResponseBadRequest(gettext("Query parameters must not contain NUL characters."), content_type="text/plain")
            return checked(request, *args, **kwargs)

        return refusing_nul

    def each_context(self, request):
        from smart_support.replica_reads import lag_notice

        return {**super().each_context(request), "replica_notice": lag_notice(getattr(request, "database_reads", None))}

    def get_urls(self):
        from analytics.dashboard import dashboard_view
        from replay.admin import inspection_view

        dashboard = path(
            "analytics/dashboard/", self.admin_view(dashboard_view(self)), name="analytics_dashboard"
        )
        inspection = path("replay/inspection/", self.admin_view(inspection_view(self)), name="replay_inspection")
        return [dashboard, inspection, *super().get_urls()]

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if request.user.has_perm("analytics.view_analyticsevent"):
            for app in apps:
                if app["app_label"] == "analytics":
                    app["models"].insert(0, {
                        "name": gettext("Dashboard"),
                        "object_name": "Dashboard",
                        "admin_url": reverse("admin:analytics_dashboard"),
                        "view_only": True,
                        "perms": {"view": True},
                    })
        if request.user.has_perm("replay.view_conversation"):
            for app in apps:
                if app["app_label"] == "replay":
                    app["models"].append({
                        "name": gettext("How your agent is read"),
                        "object_name": "Inspection",
                        "admin_url": reverse("admin:replay_inspection"),
                        "view_only": True,
                        "perms": {"view": True},
                    })
        return apps


class SupportAdminConfig(AdminConfig):
    default_site = "smart_support.admin_site.SupportAdminSite"
