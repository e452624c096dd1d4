from __future__ import annotations

from django.urls import path

from worker.integrations.django import views

app_name = "targetsms"
urlpatterns = [
    path("", views.phone, name="phone"),
    path("code/", views.code, name="code"),
    path("resend/", views.resend_code, name="resend"),
]
