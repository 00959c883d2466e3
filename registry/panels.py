"""Sections that apps above the registry add to a version's page (an MLflow link shows the
version's run): each app registers a function of (request, version) in its ready(), which
returns rendered HTML, or "" when it has nothing to show."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.safestring import SafeString

Panel = Callable[..., SafeString | str]
_PANELS: list[Panel] = []


def register(panel: Panel) -> None:
    if panel not in _PANELS:
        _PANELS.append(panel)


def for_version(request, version) -> list[str]:
    return [html for panel in _PANELS if (html := panel(request, version))]
