from django import template

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
