"""A minimal Django project for the tests: auth, DRF and its authtoken app
(the fixture's tokens load into it), one in-memory SQLite database, and
latchkey as the Go test started it (tests/conftest.py)."""

import os

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework.authtoken",
]
MIDDLEWARE = []
ROOT_URLCONF = "tests.urls"
USE_TZ = True
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["latchkey_django.authentication.LatchkeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

LATCHKEY = {
    # Port 9 (discard) when no latchkey was given: the tests that need one skip.
    "URL": os.environ.get("LATCHKEY_TEST_URL", "http://127.0.0.1:9"),
    "CLIENT_ID": os.environ.get("LATCHKEY_TEST_CLIENT_ID", "tests"),
    "CLIENT_SECRET": os.environ.get("LATCHKEY_TEST_CLIENT_SECRET", "lkc_none"),
    "TIMEOUT": 5.0,
}
