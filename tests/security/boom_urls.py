"""The portal's pages plus two that fail: /boom/ holding secrets the way real code does, and
/api/boom under the JSON API."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from portal.urls import urlpatterns as portal_urlpatterns


@csrf_exempt
def boom(request: HttpRequest) -> HttpResponse:
    master = os.environ["LITELLM_MASTER_KEY"]
    headers = {"Authorization": f"Bearer {master}"}
    submitted = request.POST
    broker = os.environ["REDIS_URL"]
    raise RuntimeError(f"cannot reach {broker} with {headers} for {len(submitted)} fields")


def api_boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("an API endpoint failed")


urlpatterns = [path("boom/", boom), path("api/boom", api_boom), *portal_urlpatterns]
