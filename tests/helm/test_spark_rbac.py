from __future__ import annotations

import hcl2

from sluice.settings import REPO_ROOT, Settings
from tests.helm.conftest import NAMESPACE, find, one, render_chart, render_ci


def rules(role: dict) -> set[tuple[str, str, str]]:
    return {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }


def test_spark_driver_account_is_sluices_and_manages_its_executors() -> None:
    objects = render_chart(show_only=["templates/spark-rbac.yaml"])
    role = one(objects, "Role", "sluice-spark-driver")
    for resource in ("pods", "services", "configmaps", "persistentvolumeclaims"):
        for verb in ("create", "get", "list", "watch", "delete"):
            assert ("", resource, verb) in rules(role)
    binding = one(objects, "RoleBinding", "sluice-spark-driver")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "sluice-spark-driver",
    }
    subjects = {(s["kind"], s["name"], s["namespace"]) for s in binding["subjects"]}
    assert ("ServiceAccount", Settings.model_fields["k8s_spark_service_account"].default, NAMESPACE) in subjects
    assert ("ServiceAccount", "sluice-speed-track", NAMESPACE) in subjects


def test_airflow_submits_spark_applications_and_reads_driver_logs_only() -> None:
    objects = render_chart(show_only=["templates/spark-rbac.yaml"])
    granted = rules(one(objects, "Role", "sluice-airflow-spark"))
    for verb in ("create", "get", "list", "watch", "delete"):
        assert ("sparkoperator.k8s.io", "sparkapplications", verb) in granted
    assert ("", "pods/log", "get") in granted
    assert not {g for g in granted if g[0] == "" and g[2] in ("create", "delete", "patch", "update")}
    binding = one(objects, "RoleBinding", "sluice-airflow-spark")
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [("ServiceAccount", "sluice-airflow")]


def test_service_accounts_are_terraforms_and_carry_their_irsa_roles() -> None:
    variables = hcl2.loads((REPO_ROOT / "terraform" / "envs" / "prod" / "variables.tf").read_text())
    declared = next(v['"service_accounts"'] for v in variables["variable"] if '"service_accounts"' in v)
    names = {name.strip('"') for name in declared["default"].values()}
    assert names >= {"sluice-sink", "sluice-sql-endpoint"}  # parsed as expected
    objects = render_ci("production-values.yaml") + render_ci("gpu-values.yaml")
    rendered = {o["metadata"]["name"] for o in find(objects, "ServiceAccount")}
    assert rendered == names
    sql = one(render_ci("production-values.yaml"), "ServiceAccount", "sluice-sql-endpoint")
    assert sql["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/sluice-prod-sql_endpoint")


def test_no_irsa_annotation_without_a_role() -> None:
    for account in find(render_ci("minimal-values.yaml"), "ServiceAccount"):
        assert "eks.amazonaws.com/role-arn" not in (account["metadata"].get("annotations") or {})


def test_training_account_only_with_training() -> None:
    assert not find(render_ci("minimal-values.yaml"), "ServiceAccount", "sluice-training")
    assert find(render_ci("gpu-values.yaml"), "ServiceAccount", "sluice-training")
