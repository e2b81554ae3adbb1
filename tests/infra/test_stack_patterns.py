"""Event patterns from the synthesized template, matched against sample events and variants."""

from __future__ import annotations

from typing import Any

import pytest

from devcluster.standins.eventbridge import matches
from tests.infra.conftest import Synth
from tests.infra.test_stack_rules import rules
from tests.support.events import load_event, sample_event_names, variant_event_names

# Which rule each sample must invoke; None: no rule may match.
SAMPLE_EXPECTED: dict[str, str | None] = {
    "cloudtrail-create-tags.json": "CloudTrailTagsChanged",
    "cloudtrail-create-volume.json": "CloudTrailCreateVolume",
    "cloudtrail-delete-tags.json": "CloudTrailTagsChanged",
    "cloudtrail-delete-volume.json": "CloudTrailDeleteVolume",
    "ebs-create-volume-available.json": "EbsVolumeNotification",
    # The handler ignores a failed creation: the rule leaves it out, it costs nothing.
    "ebs-create-volume-failed.json": None,
    "ebs-delete-volume.json": "EbsVolumeNotification",
    "tag-change-on-resource.json": "TagChangeOnVolume",
}

VARIANT_EXPECTED: dict[str, str | None] = {
    "create-volume-without-k8s-pv.json": None,
    "create-volume-no-tags.json": None,
    "create-volume-denied.json": None,
    "create-volume-govcloud-empty-pv.json": "CloudTrailCreateVolume",
    "create-tags-instance-only.json": None,
    "create-tags-snapshot-only.json": None,
    # The registrar's own status write-back: matching it would loop.
    "create-tags-registrar-status.json": None,
    "create-tags-unrelated-keys.json": None,
    "create-tags-storage-class-mixed.json": "CloudTrailTagsChanged",
    "create-tags-failed.json": None,
    "delete-tags-status-only.json": None,
    "delete-volume-in-use.json": None,
    "tag-change-registrar-status.json": None,
    "tag-change-instance.json": None,
    "tag-change-reclaim-policy.json": "TagChangeOnVolume",
    "tag-change-pv-removed.json": "TagChangeOnVolume",
    "ebs-attach-volume.json": None,
    # A detach lets a volume waiting for it go on (attached elsewhere, moving between clusters).
    "cloudtrail-detach-volume.json": "CloudTrailDeleteVolume",
    "scheduled-event.json": None,
}


@pytest.fixture(scope="module")
def patterns(minimal: Synth) -> dict[str, dict[str, Any]]:
    return {rule_id: props["EventPattern"] for rule_id, props in rules(minimal).items()
            if "EventPattern" in props}  # fmt: skip


def matching_rules(patterns: dict[str, dict[str, Any]], event: dict[str, Any]) -> list[str]:
    return sorted(rule_id for rule_id, pattern in patterns.items() if matches(pattern, event))


def test_every_documented_sample_has_an_expectation() -> None:
    assert sorted(sample_event_names()) == sorted(SAMPLE_EXPECTED)


def test_every_variant_file_has_an_expectation() -> None:
    assert variant_event_names() == sorted(VARIANT_EXPECTED)


@pytest.mark.parametrize("name", sample_event_names())
def test_documented_sample(name: str, patterns: dict[str, dict[str, Any]]) -> None:
    expected = SAMPLE_EXPECTED.get(name, "<no expectation: add one to SAMPLE_EXPECTED>")
    assert matching_rules(patterns, load_event(name)) == ([expected] if expected else [])


@pytest.mark.parametrize("name", sorted(VARIANT_EXPECTED))
def test_variant(name: str, patterns: dict[str, dict[str, Any]]) -> None:
    expected = VARIANT_EXPECTED[name]
    assert matching_rules(patterns, load_event(name)) == ([expected] if expected else [])


def create_tags(resource_ids: list[str], keys: list[str]) -> dict[str, Any]:
    event = load_event("cloudtrail-create-tags.json")
    request = event["detail"]["requestParameters"]
    request["resourcesSet"]["items"] = [{"resourceId": r} for r in resource_ids]
    request["tagSet"]["items"] = [{"key": k, "value": "x"} for k in keys]
    return event


WRITTEN_KEYS = ["k8s-pv-status", "ebs.csi.aws.com/cluster", "eks:eks-cluster-name"]


@pytest.mark.parametrize("keys", [WRITTEN_KEYS, WRITTEN_KEYS[:1], WRITTEN_KEYS[1:]])
def test_registrar_write_back_never_loops(keys: list[str], patterns: dict[str, Any]) -> None:
    assert matching_rules(patterns, create_tags(["vol-0123456789abcdef0"], keys)) == []
    change = load_event("tag-change-on-resource.json")
    change["detail"]["changed-tag-keys"] = keys
    assert matching_rules(patterns, change) == []


@pytest.mark.parametrize(
    "key",
    ["k8s-pv", "k8s-pvc", "k8s-cluster", "k8s-fstype", "k8s-volume-mode",
     "k8s-access-mode", "k8s-reclaim-policy", "k8s-storage-class"],
)  # fmt: skip
def test_every_input_key_triggers(key: str, patterns: dict[str, Any]) -> None:
    event = create_tags(["vol-0123456789abcdef0"], [*WRITTEN_KEYS, key])
    assert matching_rules(patterns, event) == ["CloudTrailTagsChanged"]
    change = load_event("tag-change-on-resource.json")
    change["detail"]["changed-tag-keys"] = [key]
    assert matching_rules(patterns, change) == ["TagChangeOnVolume"]


def test_matcher_sees_inside_arrays_of_objects() -> None:
    """The moto shim: a path through arrays of objects matches when any element does."""
    event = {"detail": {"items": [{"tags": [{"key": "a"}, {"key": "b"}]}, {"tags": []}]}}
    assert matches({"detail": {"items": {"tags": {"key": ["b"]}}}}, event)
    assert not matches({"detail": {"items": {"tags": {"key": ["c"]}}}}, event)
    assert matches({"detail": {"items": {"tags": {"key": [{"prefix": "a"}]}}}}, event)
    assert not matches({"detail": {"x": [{"exists": True}]}}, event)
