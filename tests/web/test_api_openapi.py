"""The OpenAPI document of /api/v1: valid, public, and in step with the real routes."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from web.access import access_of

PREFIX = "/api/v1"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def document(client):
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def as_openapi(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def api_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith(PREFIX)]


def test_the_document_is_public_and_a_valid_openapi_document(client):
    spec = document(client)
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_api_route_and_method_is_documented_and_every_documented_one_exists(app, client):
    spec = document(client)
    routed = {
        (as_openapi(rule.rule), method.lower())
        for rule in api_rules(app)
        for method in rule.methods - IGNORED_METHODS
    }
    documented = {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert routed, "no API routes found"
    assert documented == routed


def test_every_api_route_declares_its_audience(app):
    for rule in api_rules(app):
        assert access_of(rule.endpoint, app) is not None, rule.rule


def test_the_document_declares_bearer_auth_and_only_the_document_and_campaigns_are_public(client):
    spec = document(client)
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert spec["security"] == [{"bearerAuth": []}]
    public = {
        (path, method)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters" and operation.get("security") == []
    }
    assert public == {
        (f"{PREFIX}/openapi.json", "get"),
        (f"{PREFIX}/campaigns/{{campaign_id}}", "get"),
        (f"{PREFIX}/campaigns/{{campaign_id}}/matching", "get"),
    }
    accounts = spec["paths"][f"{PREFIX}/accounts"]["get"]
    assert accounts["x-roles"] == ["treasurer"]
    assert "401" in accounts["responses"]
    assert "403" in accounts["responses"]


def test_errors_are_documented_with_the_envelope_schema(client):
    spec = document(client)
    envelope = spec["components"]["schemas"]["Error"]
    assert envelope["required"] == ["error"]
    body = spec["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"code", "message", "details"}
    for item in spec["paths"].values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize("path", [f"{PREFIX}/entries", f"{PREFIX}/entries/{{sequence}}/reversal"])
def test_money_moving_posts_require_the_idempotency_key_and_document_the_replay(client, path):
    spec = document(client)
    operation = spec["paths"][path]["post"]
    assert {"$ref": "#/components/parameters/IdempotencyKey"} in operation["parameters"]
    parameter = spec["components"]["parameters"]["IdempotencyKey"]
    assert (parameter["in"], parameter["name"], parameter["required"]) == (
        "header",
        "Idempotency-Key",
        True,
    )
    assert parameter["schema"]["maxLength"] == 200
    assert "Idempotent-Replayed" in operation["responses"]["200"]["headers"]
    assert "409" in operation["responses"]


def test_amounts_are_documented_as_decimal_strings(client):
    spec = document(client)
    schemas = spec["components"]["schemas"]
    amount = schemas["PostingIn"]["properties"]["amount"]
    assert amount["type"] == "string"
    assert re.match(amount["pattern"], "-12.50")
    assert not re.match(amount["pattern"], "1e3")
    assert schemas["Balance"]["properties"]["available"]["type"] == "string"


def test_path_parameters_and_query_parameters_are_described(client):
    spec = document(client)
    entry = spec["paths"][f"{PREFIX}/entries/{{sequence}}"]
    assert entry["parameters"][0]["name"] == "sequence"
    assert entry["parameters"][0]["schema"]["type"] == "integer"
    listing = spec["paths"][f"{PREFIX}/entries"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert names == {"limit", "before", "account"}
    request = spec["paths"][f"{PREFIX}/entries"]["post"]["requestBody"]
    assert request["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EntryCreate"
    }
