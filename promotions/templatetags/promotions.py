"""Template tags of promotions for pages of lower apps (the home page is usecases'): they
reach promotions at render time, so no lower app imports this one."""

from __future__ import annotations

from django import template

from promotions import selectors

register = template.Library()


@register.inclusion_tag("promotions/_waiting_card.html", takes_context=True)
def waiting_for_you(context) -> dict:
    """The promotion requests that need the user's approval, as a card (none: no card)."""
    return {"waiting": selectors.waiting_for_user(context["request"].user)}
