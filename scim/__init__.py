"""A SCIM 2.0 service provider (RFC 7643, RFC 7644) at /scim/v2/, for identity providers and
HR systems that push joiners, movers and leavers. Every change it asks for goes through the
engine's services, as a request of the web UI or the REST API would; it imports the engine and
the API's tokens, and nothing imports it."""
