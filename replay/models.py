from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils.translation import gettext_lazy as _


class ConversationStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    RESOLVED = "resolved", _("Resolved")
    ESCALATED = "escalated", _("Escalated")
    UNRESOLVED = "unresolved", _("Unresolved")


class Conversation(models.Model):
    """One LangGraph thread, summarised from its checkpoints by the analytics derivation."""

    # LangGraph thread ids are unbounded text: any length, any character.
    thread_id = models.TextField(_("thread id"), unique=True, help_text=_("LangGraph thread id (config['configurable']['thread_id'])."))
    metadata = models.JSONField(_("metadata"), default=dict, blank=True, help_text=_("config['metadata'] keys of the thread."))
    # Its own indexed column (derived from metadata): every read path filters on it.
    tenant = models.TextField(
        _("tenant"), blank=True, default="", help_text=_("The metadata key SMART_SUPPORT_TENANT_KEY names; empty when it has none.")
    )
    started_at = models.DateTimeField(_("started"), help_text=_("Time of the thread's first checkpoint."))
    last_activity_at = models.DateTimeField(_("last activity"), help_text=_("Time of the thread's latest checkpoint or step."))
    status = models.CharField(
        _("status"),
        max_length=32,
        choices=ConversationStatus.choices,
        default=ConversationStatus.ACTIVE,
        help_text=_("escalated, awaiting_approval (an unexpired approval is pending), resolved, active (no outcome, "
        "recent) or unresolved."),
    )
    agents_used = ArrayField(
        models.TextField(), verbose_name=_("agents used"), default=list, blank=True, help_text=_("Agents that acted, in order of first action.")
    )
    # The measures (step_count, resolved, cost_usd …) are columns too, declared once in analytics/measures.py
    # and added to this model by analytics/models.py.
    # When the unresolved approvals were raised: whether one is still pending or has expired depends on
    # the clock, so filters compare these with now minus the TTL instead of storing the answer.
    oldest_pending_interrupt_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the oldest unresolved approval was raised.")
    )
    newest_pending_interrupt_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the newest unresolved approval was raised.")
    )
    handoffs = models.JSONField(_("handoffs"), default=dict, blank=True, help_text=_("Handoffs received, by agent."))
    unpriced_models = ArrayField(
        models.TextField(), verbose_name=_("unpriced models"), default=list, blank=True, help_text=_("Models whose tokens had no price.")
    )
    first_message = models.TextField(_("first message"), blank=True, help_text=_("Preview of the first user message."))
    summarised = models.BooleanField(
        _("summarised"),
        default=False,
        help_text=_("Earlier messages were summarised (LangChain's SummarizationMiddleware); the summarising calls' "
        "tokens are not in the checkpoints, so not in the token and cost totals."),
    )
    # Written by the analytics derivation (replay/search_terms.py): the terms of every message, tool argument
    # and result and metadata value; the masked one as readers without view_unredacted see them.
    search_document = SearchVectorField(
        null=True, blank=True, help_text="What the conversation can be found by (ids, their parts, words)."
    )
    masked_search_document = SearchVectorField(
        null=True, blank=True, help_text="The same, with personal data masked."
    )
    last_checkpoint_id = models.CharField(
        max_length=64, blank=True, help_text=_("Sync watermark: the newest checkpoint id derived.")
    )
    write_count = models.PositiveIntegerField(default=0, help_text=_("Checkpoint writes seen at the last derivation."))
    synced_at = models.DateTimeField(null=True, blank=True)
    # Set before the checkpoints are deleted, so nothing ever sees a thread without checkpoints and
    # without this mark: the sync and a rebuild would take such a thread for one that never was.
    checkpoints_pruned_at = models.DateTimeField(
        _("checkpoints pruned at"), null=True, blank=True,
        help_text=_("When prune_checkpoints deleted the thread's checkpoints; the analytics remain."),
    )

    class Meta:
        db_table = "conversations"
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-last_activity_at", "-id"]
        permissions = [
            ("view_all_tenants", "Can view the conversations of every tenant"),
            ("view_unredacted", "Can view personal data (e-mail addresses, phone numbers, cards) unmasked"),
        ]
        indexes = [
            models.Index(fields=["tenant", "-last_activity_at", "-id"], name="conv_tenant_activity_idx"),
            models.Index(fields=["-last_activity_at", "-id"], name="conv_last_activity_idx"),
            models.Index(fields=["started_at", "id"], name="conv_started_idx"),
            models.Index(fields=["cost_usd", "id"], name="conv_cost_idx"),
            models.Index(fields=["step_count", "id"], name="conv_steps_idx"),
            models.Index(fields=["status", "-last_activity_at"], name="conv_status_idx"),
            GinIndex(fields=["agents_used"], name="conv_agents_gin"),
            GinIndex(fields=["metadata"], name="conv_metadata_gin", opclasses=["jsonb_path_ops"]),
            GinIndex(fields=["search_document"], name="conv_search_document"),
            GinIndex(fields=["masked_search_document"], name="conv_masked_search_document"),
            models.Index(fields=["thread_id"], name="conv_thread_prefix", opclasses=["text_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return self.thread_id

    @classmethod
    def measure_names(cls) -> tuple[str, ...]:
        """The measure columns, in the order the analytics registry declares them."""
        return tuple(field.name for field in cls._meta.fields if getattr(field, "is_measure", False))

    @property
    def has_interrupt(self) -> bool:
        return self.interrupt_count > 0


class TenantAccess(models.Model):
    """One tenant a user may see the conversations and analytics of."""

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="tenant_accesses", verbose_name=_("user"))
    tenant = models.TextField(_("tenant"), help_text=_("A value of the conversations' tenant metadata key, exactly as stored."))

    class Meta:
        db_table = "replay_tenant_access"
        verbose_name = _("tenant access")
        verbose_name_plural = _("tenant access")
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="tenant_access_unique_user_tenant")]

    def __str__(self) -> str:
        return self.tenant


class SavedView(models.Model):
    """A manager's named conversation list: its filters, search and order, kept to open again in one click."""

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="saved_views", verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100)
    query = models.TextField(_("query"), blank=True, help_text=_("The list's query string: filters, search and order."))
    created_at = models.DateTimeField(_("created at"), auto_now=True)

    class Meta:
        db_table = "replay_saved_view"
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ("name",)
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_view_unique_user_name")]

    def __str__(self) -> str:
        return self.name
