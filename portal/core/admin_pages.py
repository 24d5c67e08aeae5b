"""A page of a ModelAdmin beside its list and forms (a dashboard, a one-time reveal, a form
of its own): rendered with the admin's own context, so it looks like the admin around it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path


def admin_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, template: str, *, title: str, **context: Any
) -> TemplateResponse:
    """`template` with the admin site's context, `title`, the model's options and `context`."""
    return TemplateResponse(
        request,
        template,
        {**model_admin.admin_site.each_context(request), "title": title, "opts": model_admin.opts, **context},
    )


def admin_path(model_admin: admin.ModelAdmin, route: str, view: Callable[..., Any], name: str) -> URLPattern:
    """The URL of such a page: `view` behind the admin's login, as the admin's own URLs are."""
    return path(route, model_admin.admin_site.admin_view(view), name=name)
