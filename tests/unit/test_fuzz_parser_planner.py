"""Property tests: any event or tags end as valid manifests, Ignored, or a clean invalid input."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from registrar.core.errors import InvalidInputError
from registrar.core.events import Ignored, TagsSet, parse_event
from registrar.core.planner import Plan, plan_volume
from registrar.core.settings import Settings
from registrar.core.status import error_status
from tests.support.events import load_event, sample_event_names
from tests.support.helpers import assert_valid_manifest, facts

pytestmark = pytest.mark.fuzz

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod", "dev"))
TAG_KEYS = [
    "k8s-pv", "k8s-pvc", "k8s-cluster", "k8s-fstype", "k8s-volume-mode",
    "k8s-access-mode", "k8s-reclaim-policy", "k8s-storage-class", "Name",
]
HOSTILE = [
    "", "none", "default/x", "a/b/c", "../etc/passwd", "x\ny", "x\x00y", "'\"quoted\"'",
    "\uff4b8s", "d\u0435fault", "{\"a\": 1}", "key: value\n- item", "A" * 10_000, "ext4", "xfs",
    "Block", "Filesystem", "ReadWriteMany", "ReadWriteOnce", "Delete", "Retain", "prod", "dev",
    "kube-system/x", "shop/orders", "gp3-static", " data ", "data.", "-data", "vol-0123",
]
dns_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
dns_name = st.lists(dns_label, min_size=1, max_size=3).map(".".join)
GOOD = {
    "k8s-pv": st.one_of(st.just(""), dns_name),
    "k8s-pvc": st.one_of(st.just("none"), dns_name, st.tuples(dns_label, dns_name).map("/".join)),
    "k8s-cluster": st.sampled_from(["prod", "dev"]),
    "k8s-fstype": st.sampled_from(["ext4", "xfs", "ext3"]),
    "k8s-volume-mode": st.sampled_from(["Filesystem", "Block"]),
    "k8s-access-mode": st.sampled_from(
        ["ReadWriteOnce", "ReadWriteOncePod", "ReadOnlyMany", "ReadWriteMany"]
    ),
    "k8s-reclaim-policy": st.sampled_from(["Retain", "Delete"]),
    "k8s-storage-class": st.one_of(st.just(""), dns_name),
    "Name": st.text(max_size=20),
}
tag_values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=300))


@st.composite
def tag_sets(draw: st.DrawFn) -> dict[str, str]:
    """Mostly well-formed values (so manifests get rendered), some hostile ones."""
    keys = draw(st.lists(st.sampled_from(TAG_KEYS), unique=True, max_size=len(TAG_KEYS)))
    return {
        key: draw(st.one_of(GOOD[key], GOOD[key], GOOD[key], tag_values)) for key in keys
    }

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(tags=tag_sets(), size=st.one_of(st.integers(1, 16_384), st.integers(-1, 70_000)),
       multi=st.booleans(),
       kind=st.sampled_from(["gp3", "io1", "io2", "st1"]))
def test_planner_renders_valid_manifests_or_a_clean_error(
    tags: dict[str, str], size: int, multi: bool, kind: str
) -> None:
    tags.setdefault("k8s-pv", "")
    try:
        result = plan_volume(
            facts(tags=tags, size_gib=size, multi_attach=multi, volume_type=kind), SETTINGS
        )
    except InvalidInputError as error:
        event(f"invalid: {error.field}")
        assert error.field and error.rule
        status = error_status(str(error))
        assert len(status) <= 256 and "\n" not in status and "\x00" not in status
        return
    assert isinstance(result, (Plan, Ignored))
    event(type(result).__name__)
    if isinstance(result, Plan):
        for item in result.items:
            assert_valid_manifest(item)


def _set_path(sample: dict[str, Any], path: list[Any], value: Any) -> None:
    target: Any = sample
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _paths(node: Any, prefix: list[Any]) -> list[list[Any]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, [*prefix, key])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, [*prefix, index])
    return found


@FUZZ
@given(data=st.data(), name=st.sampled_from(sample_event_names()))
def test_parser_never_raises_anything_but_invalid_input(data: st.DataObject, name: str) -> None:
    sample = copy.deepcopy(load_event(name))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(sample, [])))
        try:
            _set_path(sample, path, data.draw(json_values))
        except (KeyError, IndexError, TypeError):
            continue
    try:
        event(type(parse_event(sample)).__name__)
    except InvalidInputError as error:
        event("invalid input")
        assert error.field and error.rule and "\n" not in error.field


@FUZZ
@given(raw=json_values)
def test_arbitrary_json_is_never_a_crash(raw: Any) -> None:
    with contextlib.suppress(InvalidInputError):
        parse_event(raw)


def test_create_tags_naming_a_thousand_resources() -> None:
    event = load_event("cloudtrail-create-tags.json")
    items = [{"resourceId": f"vol-{i:017x}"} for i in range(500)]
    items += [{"resourceId": f"i-{i:017x}"} for i in range(500)]
    event["detail"]["requestParameters"]["resourcesSet"]["items"] = items
    parsed = parse_event(event)
    assert isinstance(parsed, TagsSet)
    assert len(parsed.volume_ids) == 500
