"""The rules filter on exactly the tag keys the Lambda reads, and never on the ones it writes."""

from __future__ import annotations

from registrar import tags
from stacks.constructs.event_rules import INPUT_TAG_KEYS


def test_rule_keys_are_the_lambdas_input_tags() -> None:
    assert set(INPUT_TAG_KEYS) == tags.INPUT_TAGS
    assert not set(INPUT_TAG_KEYS) & tags.OUTPUT_TAGS
