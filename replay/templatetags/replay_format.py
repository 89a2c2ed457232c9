import json
from decimal import Decimal
from typing import Any

from django import template
from django.utils.translation import gettext, pgettext_lazy

from replay.money import format_usd

register = template.Library()

# The outcome badges of tool results and approval requests; the stored and API values stay English.
STATUS_LABELS = {
    "success": pgettext_lazy("step status", "success"),
    "error": pgettext_lazy("step status", "error"),
    "rejected": pgettext_lazy("step status", "rejected"),
    "approved": pgettext_lazy("step status", "approved"),
    "resolved": pgettext_lazy("step status", "resolved"),
    "pending": pgettext_lazy("step status", "pending"),
    "expired": pgettext_lazy("step status", "expired"),
}


@register.filter
def duration_ms(value: int | None) -> str:
    """12 ms, 3.4 s, 41 min, 2 h 5 min, 3 d 4 h — what a manager reads at a glance."""
    if value is None:
        return "?"
    milliseconds = int(value)
    if milliseconds < 1000:
        return gettext("%(count)s ms") % {"count": milliseconds}
    seconds = milliseconds / 1000
    if seconds < 60:
        return gettext("%(count)s s") % {"count": f"{seconds:.1f}"}
    minutes = int(seconds // 60)
    if minutes < 60:
        return gettext("%(count)s min") % {"count": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if minutes:
            return gettext("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
        return gettext("%(count)s h") % {"count": hours}
    days, hours = divmod(hours, 24)
    if hours:
        return gettext("%(days)s d %(hours)s h") % {"days": days, "hours": hours}
    return gettext("%(count)s d") % {"count": days}


@register.filter
def status_label(value: str | None) -> str:
    """A step's status in the reader's language (an unknown one as it is)."""
    return STATUS_LABELS.get(value, value) if value else ""


@register.filter
def usd(value: Decimal | None, decimals: int | None = None) -> str:
    """$0.0026, $12.50, $1,204.75; ``decimals`` fixes the precision (a replay shows every cost alike)."""
    return format_usd(value, decimals=decimals)


@register.filter
def pretty_json(value: Any) -> str:
    """Tool arguments, results and interrupt values as indented JSON, non-ASCII kept; text that is not
    JSON stays as it is."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if not isinstance(parsed, (dict, list)):
            return value
        value = parsed
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
