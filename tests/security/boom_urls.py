"""The portal's pages plus /boom/, which fails holding secrets the way real code does."""

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


urlpatterns = [path("boom/", boom), *portal_urlpatterns]
