from django.urls import path, re_path

from scim import views

app_name = "scim"

urlpatterns = [
    path("", views.service_provider_config, name="root"),
    path("ServiceProviderConfig", views.service_provider_config, name="config"),
    path("Schemas", views.schemas, name="schemas"),
    re_path(r"^Schemas/(?P<schema_id>[^/]+)$", views.schema, name="schema"),
    path("ResourceTypes", views.resource_types, name="resource_types"),
    path("ResourceTypes/<str:type_id>", views.resource_type, name="resource_type"),
    re_path(r"^(?:(?:Users|Groups)/)?\.search$", views.search, name="search"),
    path("Users", views.users, name="users"),
    path("Users/<str:scim_id>", views.user, name="user"),
    path("Groups", views.groups, name="groups"),
    path("Groups/<str:group_id>", views.group, name="group"),
    re_path(r"^(?P<rest>.+)$", views.unknown, name="unknown"),
]
