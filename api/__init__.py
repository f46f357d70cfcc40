"""The REST API under /api/v1/, for HR systems and scripts: an app apart from the web UI, acting
through the engine's services and selectors only, with bearer tokens instead of sessions.

Built with django-ninja rather than Django REST framework: endpoints are plain functions with
type-hinted arguments, the way the services already read, pydantic checks the request bodies and
writes the OpenAPI document from the same hints, and it needs no serializer, viewset or router
layer on top of the services. DRF's strengths (model serializers, browsable API, session and
permission classes) would go unused here: the API exposes lifecycle requests, not model CRUD.
"""
