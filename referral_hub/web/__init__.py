"""Staff pages, server-rendered (Jinja + vendored htmx): no CDN, no build step."""
