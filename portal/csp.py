"""The Content-Security-Policy on every answer, Django's own technical pages excepted.

django-csp 4.0 sends no policy at all with a 404 or a 500 while DEBUG is on, so that Django's
technical pages (inline styles and scripts) render. That is every 404 and 500, including the
portal's own. Here the exception is narrowed to the technical pages themselves, told by what
only they say ("You're seeing this error because you have DEBUG = True"), which covers the 400
variant of the technical 500 page too (a SuspiciousOperation under DEBUG). With DEBUG off this
is django-csp's own behaviour, unchanged.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

# In both technical_404.html and technical_500.html, and in no page of the portal's.
_TECHNICAL_MARKS = (b'<meta name="robots" content="NONE,NOARCHIVE">', b"<code>DEBUG = True</code> in")
# The statuses django-csp's process_response leaves without a policy under DEBUG.
_DJANGO_CSP_DEBUG_EXEMPT = (404, 500)


def is_technical_page(response: HttpResponseBase) -> bool:
    """Django's debug page (DEBUG on): an HTML answer carrying both of its marks."""
    if not settings.DEBUG or getattr(response, "streaming", False):
        return False
    if not response.get("Content-Type", "").startswith("text/html"):
        return False
    content: bytes = getattr(response, "content", b"")
    return all(mark in content for mark in _TECHNICAL_MARKS)


class PortalCSPMiddleware(CSPMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if is_technical_page(response):
            return response
        if not settings.DEBUG or response.status_code not in _DJANGO_CSP_DEBUG_EXEMPT:
            return super().process_response(request, response)
        # django-csp decides its DEBUG exemption by the status alone: let it see the answer as
        # any other, so the portal's own 404/500 gets exactly the policy every page gets.
        status = response.status_code
        response.status_code = 200
        try:
            return super().process_response(request, response)
        finally:
            response.status_code = status
