from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import views as account_views
from modes.apis import OcrModeListApi
from ocrjobs import apis as job_apis
from ocrjobs import views as storage_views

api_v1 = [
    path("ocr-modes", OcrModeListApi.as_view(), name="ocr-modes"),
    path("upload/signed-url", job_apis.UploadSignedUrlApi.as_view(), name="upload-signed-url"),
    path("processing-jobs", job_apis.ProcessingJobListApi.as_view(), name="processing-jobs"),
    path("download/signed-url", job_apis.DownloadSignedUrlApi.as_view(), name="download-signed-url"),
    path("results/<str:job_id>", job_apis.ResultApi.as_view(), name="results"),
]

storage = [
    path("upload/<uuid:job_id>", storage_views.upload_put, name="storage-upload-put"),
    path("upload", storage_views.upload_post, name="storage-upload-post"),
    path("download", storage_views.download, name="storage-download"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("storage/", include(storage)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    re_path(r"^(?:api|storage)/", lambda request: JsonResponse({"detail": "Not found."}, status=404)),
    path("admin/", admin.site.urls),
    path("", account_views.home, name="home"),
]


def _json_or_html(request: HttpRequest, status: int, message: str, fallback):
    if request.path.startswith(("/api/", "/v1/", "/storage/")):
        return JsonResponse({"detail": message}, status=status)
    return fallback


def handler404(request: HttpRequest, exception: Exception):
    from django.views.defaults import page_not_found

    return _json_or_html(request, 404, "Not found.", page_not_found(request, exception))


def handler500(request: HttpRequest):
    from django.views.defaults import server_error

    if request.path.startswith(("/api/", "/v1/", "/storage/")):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return server_error(request)
