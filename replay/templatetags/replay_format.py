import json
from decimal import Decimal
from typing import Any

from django import template

from replay.money import format_usd

register = template.Library()


@register.filter
def duration_ms(value: int | None) -> str:
    """12 ms, 3.4 s, 41 min, 2 h 5 min, 3 d 4 h — what a manager reads at a glance."""
    if value is None:
        return "?"
    milliseconds = int(value)
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


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
