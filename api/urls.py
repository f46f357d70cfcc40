from django.urls import path

from api.views import api

urlpatterns = [path("v1/", api.urls)]
