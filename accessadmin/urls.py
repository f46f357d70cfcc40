from django.contrib.auth import views as auth_views
from django.urls import include, path

from web.forms import LoginForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("api.urls")),
    path("scim/v2/", include("scim.urls")),
    path("", include("web.urls")),
]
