"""Accounts: the user model, password rules, log-in throttling (django-axes), account e-mail and the trial."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from core.env import env_bool, env_float, env_int, env_str
from deepread.settings_parts.base import VAR_DIR

AUTH_USER_MODEL = "accounts.User"
# Django's four validators, plus one that refuses a password of only spaces; the sign-up and reset forms show
# their help text (accounts/passwords.py), so what is said is what is checked.
DEEPREAD_PASSWORD_MIN_LENGTH = env_int("DEEPREAD_PASSWORD_MIN_LENGTH", 10, minimum=8)
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email",)},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": DEEPREAD_PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.passwords.NotBlankValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
DEEPREAD_PREVIEWS_PER_MINUTE = env_int("DEEPREAD_PREVIEWS_PER_MINUTE", 20, minimum=1)  # mode previews per account
DEEPREAD_ACCOUNT_MAILS_PER_HOUR = env_int("DEEPREAD_ACCOUNT_MAILS_PER_HOUR", 5, minimum=1)  # per address
PASSWORD_RESET_TIMEOUT = env_int("DEEPREAD_PASSWORD_RESET_TIMEOUT_S", 3 * 3600, minimum=60)

# Log-in throttling (django-axes): an e-mail address from one client address is locked for a cool-down after
# DEEPREAD_LOGIN_FAILURE_LIMIT wrong passwords, on the dashboard's log-in and /admin/ alike. API keys never go
# through authenticate() and are unaffected.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = env_bool("DEEPREAD_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env_int("DEEPREAD_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_float("DEEPREAD_LOGIN_COOLOFF_MIN", 15.0) / 60  # hours, as axes reads a number
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.auth.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # lockouts are logged by accounts.auth.locked_out; no banner on every start
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "accounts.auth.locked_out"
AXES_CLIENT_IP_CALLABLE = "accounts.auth.client_ip"
# Proxies in front of DeepRead that append to X-Forwarded-For (0: the peer's address is the client's).
DEEPREAD_PROXY_COUNT = env_int("DEEPREAD_PROXY_COUNT", 0, minimum=0)

# E-mail (password reset, sign-up confirmation): written as files under var/mail/ unless a server is configured,
# by EMAIL_URL (dj-email-url: smtp://user:pass@host:25, submission://…:587 for STARTTLS, smtps://… for TLS,
# console://) or the usual
# EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, EMAIL_USE_SSL.
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "DeepRead <deepread@localhost>")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
if env_str("EMAIL_URL", ""):
    import dj_email_url

    _email = dj_email_url.parse(env_str("EMAIL_URL", ""))
    if "EMAIL_BACKEND" not in _email:
        raise ImproperlyConfigured(f"EMAIL_URL: unknown scheme; use one of {', '.join(dj_email_url.SCHEMES)}.")
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST, EMAIL_PORT = _email["EMAIL_HOST"], _email["EMAIL_PORT"]
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_USER"], _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS, EMAIL_USE_SSL = _email["EMAIL_USE_TLS"], _email["EMAIL_USE_SSL"]
    EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"] or str(VAR_DIR / "mail")
elif env_str("EMAIL_HOST", ""):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env_str("EMAIL_HOST", "")
    EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEEPREAD_TRIAL_DAYS = env_int("DEEPREAD_TRIAL_DAYS", 30, minimum=1)
