"""values.schema.json refuses wrong values at `helm template/install`, naming them."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from tests.helm.conftest import CHART, REQUIRED_SETTINGS, HelmFailed, render_chart


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sink": {"replicas": 0}}, "/sink/replicas': minimum: got 0, want 1"),
        ({"sqlEndpoint": {"replicas": 0}}, "/sqlEndpoint/replicas': minimum: got 0, want 1"),
        ({"replicas": 3}, "additional properties 'replicas' not allowed"),
        ({"sink": {"replica": 3}}, "additional properties 'replica' not allowed"),
        ({"settings": {"s3_endpoint": "https://s3", "lake_bucket": "lake"}}, "missing property 'kafka_bootstrap'"),
        ({"settings": {"kafka_bootstrap": "k:9098", "lake_bucket": "lake"}}, "missing property 's3_endpoint'"),
        ({"settings": {"kafka_bootstrap": "k:9098", "s3_endpoint": "https://s3"}}, "missing property 'lake_bucket'"),
        ({"sink": {"replicas": "three"}}, "/sink/replicas': got string, want integer"),
        ({"speedTrack": {"enabled": "yes"}}, "/speedTrack/enabled': got string, want boolean"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"serviceAccounts": {"sluice-sink": {"roleArn": "sink-role"}}}, "roleArn"),
        ({"sink": {"resources": {"limits": {"memory": None}}}}, "missing property 'memory'"),  # null removes a default
    ],
)
def test_wrong_values_are_refused(values: dict[str, Any], message: str) -> None:
    values = {"settings": REQUIRED_SETTINGS, **values}
    with pytest.raises(HelmFailed) as refused:
        render_chart(values)
    assert message in str(refused.value)


def test_the_schema_is_valid_draft_07() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    for block in ("image", "serviceAccounts", "sink", "sqlEndpoint", "speedTrack", "training", "network", "secrets"):
        assert schema["properties"][block]["additionalProperties"] is False, block


def test_required_settings_alone_render() -> None:
    assert render_chart({"settings": REQUIRED_SETTINGS})


def test_no_settings_is_refused() -> None:
    with pytest.raises(HelmFailed, match="kafka_bootstrap"):
        render_chart({"settings": {}})
