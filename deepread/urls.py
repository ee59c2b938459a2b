from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import views as account_views
from accounts.auth import LoginForm
from accounts.passwords import LimitedPasswordResetForm, RulesPasswordChangeForm, RulesSetPasswordForm
from core.error_formats import OPENAI, PAGE, error_format, response_for
from core.errors import ApplicationError, InternalError, NotFound, PermissionDenied
from modes import views as mode_views
from modes.apis import OcrModeListApi
from ocr import apis as ocr_apis
from ocr import preview as ocr_preview
from ocrjobs import apis as job_apis
from ocrjobs import bulk_dashboard, control_apis, control_dashboard, dashboard, dashboard_uploads, webhook_apis
from ocrjobs import local_storage as storage_views

api_v1 = [
    path("ocr-modes", OcrModeListApi.as_view(), name="ocr-modes"),
    path("upload/signed-url", job_apis.UploadSignedUrlApi.as_view(), name="upload-signed-url"),
    path("processing-jobs", job_apis.ProcessingJobListApi.as_view(), name="processing-jobs"),
    path("download/signed-url", job_apis.DownloadSignedUrlApi.as_view(), name="download-signed-url"),
    path("results/<str:job_id>", job_apis.ResultApi.as_view(), name="results"),
    path("jobs/<str:job_id>", control_apis.JobDetailApi.as_view(), name="job"),
    path("jobs/<str:job_id>/cancel", control_apis.JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<str:job_id>/retry", control_apis.JobRetryApi.as_view(), name="job-retry"),
    path("jobs/<uuid:job_id>/events", control_apis.job_events, name="job-events"),
    path("usage", control_apis.UsageApi.as_view(), name="usage-api"),
    path("settings", control_apis.SettingsApi.as_view(), name="settings-api"),
    path("webhooks", webhook_apis.WebhookEndpointListApi.as_view(), name="webhooks"),
    path("webhooks/callback-secret", webhook_apis.CallbackSecretApi.as_view(), name="webhooks-callback-secret"),
    path("webhooks/deliveries", webhook_apis.WebhookDeliveryListApi.as_view(), name="webhook-deliveries"),
    path(
        "webhooks/deliveries/<str:delivery_id>/redeliver",
        webhook_apis.WebhookRedeliverApi.as_view(),
        name="webhook-redeliver",
    ),
    path("webhooks/<str:endpoint_id>", webhook_apis.WebhookEndpointDetailApi.as_view(), name="webhook"),
    path("ocr-modes/<str:name>/versions", control_apis.ModeVersionListApi.as_view(), name="ocr-mode-versions"),
]

storage = [
    path("upload/<uuid:job_id>", storage_views.upload_put, name="storage-upload-put"),
    path("upload", storage_views.upload_post, name="storage-upload-post"),
    path("download", storage_views.download, name="storage-download"),
    path("s3-events", storage_views.s3_events, name="storage-s3-events"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("v1/ocr", ocr_apis.OcrApi.as_view(), name="v1-ocr"),
    path("v1/models", ocr_apis.ModelListApi.as_view(), name="v1-models"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("storage/", include(storage)),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=LoginForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("accounts/signup/sent/", account_views.signup_sent, name="signup-sent"),
    path("accounts/confirm/<uidb64>/<token>/", account_views.signup_confirm, name="signup-confirm"),
    path(
        "accounts/password/reset/",
        auth_views.PasswordResetView.as_view(
            email_template_name="registration/password_reset_email.txt",
            subject_template_name="registration/password_reset_subject.txt",
            form_class=LimitedPasswordResetForm,
        ),
        name="password_reset",
    ),
    path("accounts/password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(form_class=RulesSetPasswordForm),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(form_class=RulesPasswordChangeForm),
        name="password_change",
    ),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("welcome/", account_views.welcome, name="welcome"),
    path("keys/", account_views.keys, name="keys"),
    path("keys/create", account_views.key_create, name="key-create"),
    path("keys/<int:key_id>/revoke", account_views.key_revoke, name="key-revoke"),
    path("usage/", account_views.usage, name="usage"),
    path("upload/", dashboard.upload, name="upload"),
    path("upload/ticket", dashboard.upload_ticket, name="upload-ticket"),
    path("upload/duplicates", dashboard_uploads.upload_duplicates, name="upload-duplicates"),
    path("jobs/", dashboard.jobs, name="jobs"),
    path("jobs/actions", bulk_dashboard.jobs_bulk, name="jobs-bulk"),
    path("jobs/<uuid:job_id>/", dashboard.job_detail, name="job-detail"),
    path("jobs/<uuid:job_id>/row", dashboard.job_row, name="job-row"),
    path("jobs/<uuid:job_id>/state", dashboard_uploads.job_state, name="job-state"),
    path("jobs/<uuid:job_id>/abandon", dashboard_uploads.upload_abandon, name="job-upload-abandon"),
    path("jobs/<uuid:job_id>/pages/<int:number>.png", dashboard.job_page_image, name="job-page-image"),
    path("jobs/<uuid:job_id>/files/<str:name>", dashboard.job_artifact, name="job-artifact"),
    path("jobs/<uuid:job_id>/download/<str:kind>", dashboard.job_download, name="job-download"),
    path("jobs/<uuid:job_id>/cancel", control_dashboard.job_cancel, name="job-cancel-page"),
    path("jobs/<uuid:job_id>/delete", control_dashboard.job_delete, name="job-delete-page"),
    path("jobs/<uuid:job_id>/rerun", control_dashboard.job_rerun, name="job-rerun-page"),
    path("webhooks/", control_dashboard.webhooks_page, name="webhooks-page"),
    path("webhooks/new", control_dashboard.webhook_create, name="webhook-create"),
    path("webhooks/<int:endpoint_id>/delete", control_dashboard.webhook_delete, name="webhook-delete"),
    path(
        "webhooks/deliveries/<int:delivery_id>/redeliver",
        control_dashboard.webhook_redeliver,
        name="webhook-redeliver-page",
    ),
    path("webhooks/callback-secret", control_dashboard.callback_secret, name="webhooks-callback-secret-page"),
    path("settings/retention", control_dashboard.retention, name="settings-retention"),
    path("modes/", mode_views.modes, name="modes"),
    path("modes/new", mode_views.mode_create, name="mode-create"),
    path("modes/<int:mode_id>/edit", mode_views.mode_edit, name="mode-edit"),
    path("modes/<int:mode_id>/delete", mode_views.mode_delete, name="mode-delete"),
    path("modes/preview", ocr_preview.mode_preview, name="mode-preview"),
    re_path(r"^(?:api|storage|v1)/", csrf_exempt(lambda request: _unknown_route(request))),
    path("admin/", admin.site.urls),
    path("", account_views.home, name="home"),
]


def _unknown_route(request: HttpRequest) -> HttpResponse:
    """404 for a route that does not exist under /api/, /storage/ or /v1/, in that API's format (OpenAI's names the
    path; `{"detail": "Not found."}` does not)."""
    message = f"No such endpoint: {request.path}." if error_format(request.path) == OPENAI else "Not found."
    return response_for(request.path, NotFound(message))


def _api_or_page(request: HttpRequest, exc: ApplicationError, page: HttpResponse) -> HttpResponse:
    """`exc` in the format of the API the path belongs to (`core.error_formats`), or the HTML `page` elsewhere."""
    return page if error_format(request.path) == PAGE else response_for(request.path, exc)


def csrf_failure(request: HttpRequest, reason: str = ""):
    """CSRF_FAILURE_VIEW: a JSON 403 under the APIs (whose own views are CSRF-exempt: only an unknown route or a
    session-authenticated call gets here), Django's page elsewhere."""
    from django.views.csrf import csrf_failure as page

    return _api_or_page(request, PermissionDenied("CSRF verification failed."), page(request, reason=reason))


def handler404(request: HttpRequest, exception: Exception):
    """404 as JSON under the API prefixes (`{"detail"}`, OpenAI's shape under /v1/), else Django's HTML page."""
    from django.views.defaults import page_not_found

    return _api_or_page(request, NotFound("Not found."), page_not_found(request, exception))


def handler500(request: HttpRequest):
    """500 as JSON under /api, /v1 and /storage (each in its API's format), else Django's HTML page."""
    from django.views.defaults import server_error

    return _api_or_page(request, InternalError("Internal server error."), server_error(request))
