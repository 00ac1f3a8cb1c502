"""The OpenAPI document is generated from the schemas, valid 3.1, and committed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask
from openapi_spec_validator import validate

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_served_document_is_valid_openapi_3_1(client: Any, session: Any) -> None:
    document = client.get("/openapi.json").json
    assert document["openapi"] == "3.1.0"
    validate(document)
    error = document["components"]["responses"]["DEFAULT_ERROR"]
    assert list(error["content"]) == ["application/problem+json"]


def test_the_committed_document_matches_the_code(app: Flask) -> None:
    from referral_hub.extensions import api

    with app.app_context():
        generated = json.loads(json.dumps(api.spec.to_dict()))
    committed = json.loads(COMMITTED.read_text())
    assert generated == committed, "docs/openapi.json is stale: run `make openapi` and commit it"


def test_the_docs_page_uses_only_vendored_assets(client: Any, session: Any) -> None:
    page = client.get("/docs").get_data(as_text=True)
    assert "/static/vendor/swagger-ui-bundle-5.35.0.js" in page
    assert "https://" not in page
    assert "http://" not in page
    asset = client.get("/static/vendor/swagger-ui-bundle-5.35.0.js")
    assert asset.status_code == 200
    asset.close()
