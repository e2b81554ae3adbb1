"""The stack and the Lambda agree: the tag keys rules filter on, the settings it passes."""

from __future__ import annotations

import re
from pathlib import Path

import registrar.core.settings
from registrar.core import tags
from stacks.config import DEFAULTS, RegistrarConfig
from stacks.constructs.event_rules import INPUT_TAG_KEYS
from stacks.constructs.function import METRICS_NAMESPACE, SERVICE_NAME


def test_rule_keys_are_the_lambdas_input_tags() -> None:
    assert set(INPUT_TAG_KEYS) == tags.INPUT_TAGS
    assert not set(INPUT_TAG_KEYS) & tags.OUTPUT_TAGS


def test_metrics_and_logs_go_where_the_dashboard_and_alarms_look() -> None:
    assert (SERVICE_NAME, METRICS_NAMESPACE) == (tags.MANAGER, tags.METRICS_NAMESPACE)


class Context:
    def try_get_context(self, key: str) -> object:
        return "prod" if key == "clusterName" else DEFAULTS[key]


def test_the_stack_sets_every_setting_the_lambda_reads() -> None:
    source = Path(registrar.core.settings.__file__).read_text()
    read = set(re.findall(r'"(REGISTRAR_[A-Z_]+)"', source))
    assert set(RegistrarConfig.from_context(Context()).environment()) == read  # type: ignore[arg-type]
