"""Small display helpers for the admin pages."""

from datetime import datetime

from django import template
from django.utils import timezone

from web import plan_words

register = template.Library()


@register.filter
def system_label(name: str) -> str:
    return plan_words.system_label(name)


@register.simple_tag
def took(started: datetime | None, finished: datetime | None) -> str:
    """How long something took, or has taken so far; empty when it has not started."""
    if started is None:
        return ""
    seconds = ((finished or timezone.now()) - started).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"
