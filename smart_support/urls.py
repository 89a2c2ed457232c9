from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from rest_framework.routers import DefaultRouter

from access.api import ApiLoginView
from analytics.api import AnalyticsViewSet
from replay.api import ConversationViewSet, CustomerViewSet, ReplayViewSet
from smart_support.api_docs import ApiDocsView, ApiSchemaView

router = DefaultRouter(trailing_slash=False)
router.include_root_view = False
router.include_format_suffixes = False  # '.json' ends thread ids too; ?format=csv picks the format
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("replay", ReplayViewSet, basename="replay")
router.register("customers", CustomerViewSet, basename="customer")
router.register("analytics", AnalyticsViewSet, basename="analytics")

urlpatterns = [
    # The back office has no public site: the admin's "View site" and a bare host name open the admin.
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", ApiSchemaView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("api/auth/login", ApiLoginView.as_view(), name="api-login"),
    path("api/", include(router.urls)),
]
