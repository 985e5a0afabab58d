"""The smallest Django project serving django-scim2 with its own default adapters.

Environment: ROSTER_DJANGO_DB (the SQLite file), ROSTER_DJANGO_TOKEN (the bearer token),
ROSTER_DJANGO_PAGE (the page size the service announces; default the library's 50).
"""
import os

SECRET_KEY = "roster-interop-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_scim",
    "people",
]
# django-scim2 checks `request.user.is_authenticated` itself (its SCIMAuthCheckMiddleware wraps
# every SCIM view); this one sets the user from the bearer token.
MIDDLEWARE = ["people.auth.BearerTokenMiddleware"]
ROOT_URLCONF = "rosterscim.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("ROSTER_DJANGO_DB", "db.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
AUTH_USER_MODEL = "people.User"
SCIM_SERVICE_PROVIDER = {
    "NETLOC": "127.0.0.1",
    "SCHEME": "http",
    "GROUP_MODEL": "people.models.Group",
    "SERVICE_PROVIDER_CONFIG_MODEL": "people.models.ServiceProviderConfig",
    "AUTHENTICATION_SCHEMES": [
        {
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A bearer token in the Authorization header",
        }
    ],
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="django-scim2"',
}
