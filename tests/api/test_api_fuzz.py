"""The API driven by schemathesis from its own OpenAPI document, with a valid token.

Every operation, property-based: no 5xx, and every answer matches its documented status,
media type, headers and schema. Half of the generated calls on a report use one the partner
really filed, so reads, messages, evidence and withdrawals run their success paths too.
(Operations run inside one test: schemathesis' pytest loader does not support the pytest this
suite runs.)
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance
from sqlalchemy import func, select

from portal.models import Message
from tests.support.partners import make_partner, report_body

EXAMPLES = 25


def test_every_operation(app: Any, db: Any) -> None:
    partner = make_partner(db, "fuzz-centre")
    headers = {"Authorization": f"Bearer {partner.token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # Reports filed through the document's own operation, their answers checked against it.
    create = schema["/api/v1/reports"]["POST"]
    references = []
    for _ in range(3):
        case = create.Case(body=report_body(), media_type="application/json")
        response = case.call_and_validate(headers=headers)
        assert response.status_code == 201
        references.append(response.json()["reference"])
    ran = []
    for result in schema.get_all_operations():
        operation = result.ok()
        has_reference = "{reference}" in operation.path

        @given(
            case=operation.as_strategy(),
            known=st.sampled_from([None, *references]) if has_reference else st.none(),
        )
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any, known: str | None) -> None:
            if known is not None:
                case.path_parameters = {**(case.path_parameters or {}), "reference": known}
            # Schema-valid bodies may still break the report form's own rules (a URL with no
            # valid host, an answer to a question the category does not ask): those get 422.
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        run()
        ran.append(operation.label)
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    expected = sum(len(methods) for methods in document["paths"].values())
    assert len(ran) == expected >= 9
    # The fuzzer got past the refusals on the partner's own reports.
    assert db.scalar(select(func.count(Message.id))) > 0
