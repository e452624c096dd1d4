"""Phone login for Django: ``INSTALLED_APPS += ["worker.integrations.django"]`` and
``path("auth/phone/", include("worker.integrations.django.urls"))``.

Settings come from the environment, overridden by a ``TARGETSMS`` dict in Django's settings
(the same names: ``{"OTP_SERVICE_NAME": "Shop", ...}``), and are validated by ``manage.py
check``. ``AUTHENTICATION_BACKENDS`` gets ``worker.integrations.django.backends.PhoneBackend``.
"""
