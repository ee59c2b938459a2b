from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.selectors import api_key_list, quota_status
from ocrjobs.selectors import job_list


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "accounts/home.html",
        {
            "quota": quota_status(user=user),
            "keys": api_key_list(user=user)[:20],
            "jobs": job_list(user=user, limit=20),
            "engine": settings.DEEPREAD_ENGINE,
            "base_url": request.build_absolute_uri("/").rstrip("/"),
        },
    )
