from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from analytics.api import AnalyticsViewSet
from replay.api import ConversationViewSet, ReplayViewSet

router = DefaultRouter(trailing_slash=False)
router.include_root_view = False
router.include_format_suffixes = False  # '.json' ends thread ids too; ?format=csv picks the format
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("replay", ReplayViewSet, basename="replay")
router.register("analytics", AnalyticsViewSet, basename="analytics")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include(router.urls)),
]
