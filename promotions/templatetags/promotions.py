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


@register.inclusion_tag("promotions/_acceptance_threshold.html")
def acceptance_threshold(use_case, acceptance: dict) -> dict:
    """The use case's acceptance threshold for production beside a campaign's acceptance
    (reviews' results page), and whether this acceptance meets it as the gate reads it: the
    point estimate or the Wilson lower bound, per the promotion policy."""
    from promotions.models import PromotionPolicy
    from promotions.services import policy as policies

    rules = policies.policy_for(use_case)
    on_bound = rules.acceptance_bound == PromotionPolicy.AcceptanceBound.WILSON
    measured = acceptance.get("low") if on_bound else acceptance.get("rate")
    return {
        "threshold": rules.acceptance_threshold,
        "on_bound": on_bound,
        "met": None if measured is None else measured >= rules.acceptance_threshold,
    }
