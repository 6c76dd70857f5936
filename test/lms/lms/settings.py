"""
A stock Django + DRF + SimpleJWT LMS for the test suite, configured only from
the environment so each test run gets its own database and keys.
"""
import os
from datetime import timedelta


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f'{name} is not set')
    return value


def read(path):
    with open(path) as f:
        return f.read()


# The HS256 secret doubles as Django's SECRET_KEY: one secret fewer to hand in.
SECRET_KEY = os.environ.get('LMS_JWT_SIGNING_KEY') or 'test-lms-not-secret'
DEBUG = False
ALLOWED_HOSTS = ['*']

INSTALLED_APPS = [
    'django.contrib.auth',
    'django.contrib.contenttypes',
    'rest_framework',
    'accounts',
]
MIDDLEWARE = [
    'django.middleware.common.CommonMiddleware',
]
ROOT_URLCONF = 'lms.urls'
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': env('LMS_DB')}}
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'
USE_TZ = True

REST_FRAMEWORK = {
    'DEFAULT_AUTHENTICATION_CLASSES': ['rest_framework_simplejwt.authentication.JWTAuthentication'],
}

ALGORITHM = env('LMS_JWT_ALGORITHM', 'HS256')
if ALGORITHM == 'HS256':
    SIGNING_KEY, VERIFYING_KEY = env('LMS_JWT_SIGNING_KEY'), None
elif ALGORITHM == 'RS256':
    SIGNING_KEY, VERIFYING_KEY = read(env('LMS_JWT_PRIVATE_KEY_FILE')), read(env('LMS_JWT_PUBLIC_KEY_FILE'))
else:
    raise RuntimeError(f'LMS_JWT_ALGORITHM must be HS256 or RS256, not {ALGORITHM}')

SIMPLE_JWT = {
    'ACCESS_TOKEN_LIFETIME': timedelta(seconds=int(env('LMS_ACCESS_LIFETIME_SECONDS', '300'))),
    'ALGORITHM': ALGORITHM,
    'SIGNING_KEY': SIGNING_KEY,
    'VERIFYING_KEY': VERIFYING_KEY,
    'USER_ID_FIELD': 'id',
    'USER_ID_CLAIM': 'user_id',
}

# Where the page's "Launch Workspace" goes; empty means the page's own origin (behind the edge proxy).
GATEWAY_URL = os.environ.get('LMS_GATEWAY_URL', '')

LOGGING = {
    'version': 1,
    'handlers': {'stderr': {'class': 'logging.StreamHandler'}},
    'loggers': {'django': {'handlers': ['stderr'], 'level': 'WARNING'}},
}
