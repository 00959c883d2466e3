"""Browser plumbing every app's pages share: the htmx request type, method guards, paging,
and the one place where a service's refusal (a DomainError) becomes form errors."""

from __future__ import annotations

from django import forms
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, QueryDict
from django.views.decorators.http import require_http_methods
from django_htmx.middleware import HtmxDetails

from portal.errors import DomainError

GET_POST = require_http_methods(["GET", "POST"])
PAGE_SIZE = 25


class HtmxRequest(HttpRequest):
    """HttpRequest plus the `htmx` details HtmxMiddleware sets (as django-htmx documents)."""

    htmx: HtmxDetails


def posted(request: HttpRequest) -> QueryDict | None:
    """The POST data to bind a form to, or None for a GET (an unbound form)."""
    return request.POST if request.method == "POST" else None


def page_of(request: HttpRequest, rows, per_page: int = PAGE_SIZE) -> Page:
    """The page of `rows` that ?page= asks for (the last one if past the end)."""
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


class Form(forms.Form):
    """A form whose service errors land on the field that caused them, else on top."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def field_for_error(self, name: str) -> str | None:
        return name if name in self.fields else None


class DateInput(forms.DateInput):
    input_type = "date"


class AnnotatedSelect(forms.Select):
    """A select whose options carry data attributes (`option_attrs`: value → attributes),
    for page scripts that filter one select by another."""

    def __init__(self, *args, option_attrs: dict[str, dict[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.option_attrs = option_attrs or {}

    def create_option(self, name, value, *args, **kwargs):
        option = super().create_option(name, value, *args, **kwargs)
        option["attrs"].update(self.option_attrs.get(str(value), {}))
        return option


def add_service_error(form: Form, error: DomainError) -> None:
    """Each field error of `error` beside the input it concerns, else on top of the form."""
    for item in error.error_items() or [{"message": error.message}]:
        form.add_error(form.field_for_error(item.get("field") or ""), item["message"])


def call_service(form: Form, service, /, *args, **kwargs):
    """Run `service`; a DomainError becomes errors on `form` and the result is None."""
    try:
        return service(*args, **kwargs)
    except DomainError as error:
        add_service_error(form, error)
    return None
