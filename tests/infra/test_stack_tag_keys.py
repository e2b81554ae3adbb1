"""The stack and the Lambda agree: the tag keys rules filter on, the settings it passes."""

from __future__ import annotations

import re
from pathlib import Path

import registrar
from registrar.core import contract, tags
from stacks.config import CONTEXT_DEFAULTS, RegistrarConfig
from stacks.constructs.event_rules import INPUT_TAG_KEYS
from stacks.constructs.function import METRICS_NAMESPACE, SERVICE_NAME


def test_rule_keys_are_the_lambdas_input_tags() -> None:
    assert set(INPUT_TAG_KEYS) == tags.INPUT_TAGS
    assert not set(INPUT_TAG_KEYS) & tags.OUTPUT_TAGS


def test_metrics_and_logs_go_where_the_dashboard_and_alarms_look() -> None:
    assert (SERVICE_NAME, METRICS_NAMESPACE) == (tags.MANAGER, contract.METRICS_NAMESPACE)


class Context:
    def try_get_context(self, key: str) -> object:
        return "prod" if key == "clusterName" else CONTEXT_DEFAULTS[key]


def test_the_stack_sets_every_setting_the_lambda_reads() -> None:
    environment = RegistrarConfig.from_context(Context()).environment()  # type: ignore[arg-type]
    assert set(environment) == set(contract.BY_VARIABLE)


def test_only_the_contract_names_a_setting_variable() -> None:
    """No module of the function reads a REGISTRAR_* variable around the contract."""
    package = Path(registrar.__file__).parent
    for module in package.rglob("*.py"):
        if module.name != "contract.py":
            assert not re.search(r"[\"']REGISTRAR_", module.read_text()), module
