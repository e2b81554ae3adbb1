"""The contract (core/contract.py): each setting's rule, blank and unset values, the metric map."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import get_args

import pytest

from registrar.core import contract
from registrar.core.decision import Result
from registrar.core.errors import SettingsError
from registrar.core.settings import Settings


def test_every_settings_field_is_a_contract_setting() -> None:
    assert [f.name for f in dataclasses.fields(Settings)] == [s.field for s in contract.SETTINGS]
    assert len({s.key for s in contract.SETTINGS}) == len(contract.SETTINGS)
    assert all(s.variable.startswith("REGISTRAR_") for s in contract.SETTINGS)


def test_unset_is_the_contracts_default() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings().allowed_namespaces == ("*",)
    assert Settings().denied_namespaces == ("kube-system", "kube-public", "kube-node-lease")


@pytest.mark.parametrize("setting", contract.SETTINGS, ids=lambda s: s.key)
def test_blank_is_the_default_but_for_the_denied_list(setting: contract.Setting[object]) -> None:
    blank = setting.read({setting.variable: "  "})
    if setting is contract.DENIED_NAMESPACES:
        assert blank == ()
    else:
        assert blank == setting.fallback


@pytest.mark.parametrize(
    ("variable", "text", "message"),
    [
        ("REGISTRAR_KUBE_QPS", "0", "must be a positive number"),
        ("REGISTRAR_KUBE_QPS", "nan", "must be a positive number"),
        ("REGISTRAR_KUBE_BURST", "1.5", "must be a positive integer"),
        ("REGISTRAR_DELETE_ON_VOLUME_DELETE", "yes", "must be true or false"),
        ("REGISTRAR_UNVERIFIED_EVENTS", "lookup", "must be one of refuse, cloudtrail"),
        ("REGISTRAR_ALLOWED_RECLAIM_POLICIES", "Recycle", "each must be one of Retain, Delete"),
        ("REGISTRAR_ALLOWED_RECLAIM_POLICIES", ",", "each must be one of Retain, Delete"),
        ("REGISTRAR_ALLOWED_NAMESPACES", " , ", "must list namespaces, or * for any"),
    ],
)
def test_one_message_per_rule(variable: str, text: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({variable: text})
    assert (error.value.name, error.value.rule) == (variable, message)
    assert message == contract.BY_VARIABLE[variable].rule.message


def test_the_default_cluster_is_an_allowed_one() -> None:
    env = {"REGISTRAR_DEFAULT_CLUSTER": "a"}
    assert Settings.from_env(env).allowed_clusters == ("a",)
    with pytest.raises(SettingsError, match="REGISTRAR_DEFAULT_CLUSTER: must be one of"):
        Settings.from_env({**env, "REGISTRAR_ALLOWED_CLUSTERS": "b,c"})


def test_context_values_become_the_text_the_function_reads() -> None:
    defaults = {s.key: s.default for s in contract.SETTINGS}
    environment = contract.environment(defaults.__getitem__)
    assert environment["REGISTRAR_DELETE_ON_VOLUME_DELETE"] == "true"
    assert environment["REGISTRAR_KUBE_QPS"] == "5"
    assert Settings.from_env(environment) == Settings()


def test_every_result_has_its_metric() -> None:
    assert set(get_args(Result)) == set(contract.OUTCOME_METRICS)
    assert len(set(contract.OUTCOME_METRICS.values())) == len(contract.OUTCOME_METRICS)


def test_the_contract_needs_the_standard_library_only() -> None:
    """stacks/ imports it to synthesize: it must not pull the function's dependencies in."""
    probe = (
        "import sys; before = set(sys.modules); import registrar.core.contract; "
        "print('\\n'.join(sorted(set(sys.modules) - before)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    outside = [
        name for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names
        and name not in ("registrar", "registrar.core", "registrar.core.contract",
                         "registrar.core.tags", "registrar.core.errors")
    ]  # fmt: skip
    assert outside == []
