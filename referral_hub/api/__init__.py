"""The JSON API: blueprint registration, health checks, the OpenAPI document and docs."""
