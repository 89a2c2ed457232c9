from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _rollups_recomputed_when_emptied(*, using: str, **kwargs) -> None:
    """After ``migrate``: the rollups emptied by a migration that changed how they are keyed are summed
    again from the conversations, by today's code against today's schema (a migration cannot call code that
    expects columns its later siblings add)."""
    from analytics.models import HourlyRollup
    from analytics.storage import rebuild_rollups
    from replay.models import Conversation

    connection = connections[using]
    if using != DEFAULT_DB_ALIAS or not {"conversations", HourlyRollup._meta.db_table} <= set(connection.introspection.table_names()):
        return
    if not Conversation.objects.exists() or HourlyRollup.objects.exists():
        return
    executor = MigrationExecutor(connection)
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):  # today's schema, every migration applied
        rebuild_rollups()


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        post_migrate.connect(_rollups_recomputed_when_emptied, sender=self)
