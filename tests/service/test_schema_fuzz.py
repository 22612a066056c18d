"""Schemathesis over every route of the OpenAPI document, against the API served by uvicorn with a real
Redis (and a live worker, so /healthz is healthy): no 5xx, and no status, header, content type or body
outside what the document declares.

``positive_data_acceptance`` is left out: a schema cannot say that a model must be valid Keras JSON or
that an upload must be a dataset file, so schema-valid requests may rightly get a 422.
"""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.app import create_app
from worker.settings import Settings

MAX_EXAMPLES = 12
"""Cases per operation and generation mode: a bounded run."""

schema = schemathesis.openapi.from_dict(create_app(Settings(redis_url="redis://unused")).openapi())


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_route_answers_within_its_schema(case, api, workers):
    if case.operation.path == "/healthz" and not workers.procs:
        workers.start(1)
    case.call_and_validate(base_url=api.url, timeout=30, excluded_checks=[positive_data_acceptance])
