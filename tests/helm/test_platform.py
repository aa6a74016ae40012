"""The sluice-platform umbrella chart (helm/sluice-platform), checked offline.

Airflow, Superset and the spark-operator are deployed with their official charts as pinned dependencies. The
Airflow and Superset charts cannot be downloaded here, so Sluice's values for them are validated against each chart's
own values.schema.json (vendored in tests/fixtures/charts/); the spark-operator chart is vendored
(helm/vendor/spark-operator) and rendered with Sluice's values, then every object is validated by kubeconform in
strict mode against the Kubernetes schemas of the kubernetes-validate package.
Self-contained: it does not use tests/helm/conftest.py.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.jsonschema import specification_with

from sluice.settings import REPO_ROOT
from tests.helm.conftest import CRD, K8S_SCHEMAS, KUBE_VERSION, helm, kubeconform, write_schemas

ROOT = REPO_ROOT
CHART = ROOT / "helm" / "sluice-platform"
VENDOR = ROOT / "helm" / "vendor" / "spark-operator"
FIXTURES = ROOT / "tests" / "fixtures" / "charts"
SHARED_CRDS = CRD.parent
EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of a chart's defaults with user values: maps merge, everything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(override)


def _errors(validator: jsonschema.protocols.Validator, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(instance)]


@pytest.fixture(scope="module")
def chart() -> dict[str, Any]:
    return _yaml(CHART / "Chart.yaml")


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return _yaml(CHART / "values.yaml")


@pytest.fixture(scope="module")
def airflow_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((FIXTURES / "airflow" / "values.schema.json").read_text())
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def airflow_defaults() -> dict[str, Any]:
    """The chart's own values.yaml (same commit as the schema): Helm validates defaults merged with overrides."""
    return _yaml(FIXTURES / "airflow" / "values.yaml")


@pytest.fixture(scope="module")
def superset_validator() -> jsonschema.protocols.Validator:
    """Superset's schema, for Sluice's overrides alone.

    Its `$ref`s point at yannh/kubernetes-json-schema v1.23.0 on GitHub (with a doubled `##`, which Helm's validator
    tolerates); they resolve here to the local Kubernetes definitions of kubernetes-validate (v1.25.0, the oldest it
    ships). The chart's values.yaml is not vendored, so `required` (met by the chart's defaults) is not checked;
    types, enums and `additionalProperties: false` are.
    """
    text = (FIXTURES / "superset" / "values.schema.json").read_text().replace(".json##/", ".json#/")
    schema = _strip_required(json.loads(text))
    k8s = (K8S_SCHEMAS / "v1.25.0-local" / "_definitions.json").read_text().replace('"#/$defs/', '"#/definitions/')
    definitions = {"definitions": json.loads(k8s)["$defs"]}
    cls = validator_for(schema)
    remote = "https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/v1.23.0/_definitions.json"
    resource = Resource.from_contents(definitions, default_specification=specification_with(schema["$schema"]))
    cls.check_schema(schema)
    return cls(schema, registry=Registry().with_resource(remote, resource))


def _strip_required(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_required(v) for k, v in node.items() if not (k == "required" and isinstance(v, list))}
    if isinstance(node, list):
        return [_strip_required(v) for v in node]
    return node


# (a) pinned dependencies


def test_dependencies_are_pinned_with_repository_and_condition(chart: dict[str, Any]) -> None:
    assert chart["apiVersion"] == "v2"
    deps = {d["name"]: d for d in chart["dependencies"]}
    assert set(deps) == {"sluice", "spark-operator", "airflow", "superset"}
    for name, dep in deps.items():
        assert EXACT_VERSION.match(str(dep["version"])), f"{name}: {dep['version']!r} is not an exact version"
        assert dep["repository"], name
        assert dep["condition"] == f"{name}.enabled", name
    assert deps["airflow"]["repository"] == "https://airflow.apache.org"
    assert deps["superset"]["repository"] == "https://apache.github.io/superset"
    assert deps["sluice"]["repository"] == "file://../sluice"
    assert deps["spark-operator"]["repository"] == "file://../vendor/spark-operator"


def test_local_dependencies_match_their_charts(chart: dict[str, Any]) -> None:
    deps = {d["name"]: d for d in chart["dependencies"]}
    vendored = _yaml(VENDOR / "Chart.yaml")
    assert vendored["name"] == "spark-operator"
    assert str(vendored["version"]) == str(deps["spark-operator"]["version"])
    assert (VENDOR / "LICENSE").read_text().lstrip().startswith("Apache License")
    sluice = _yaml(ROOT / "helm" / "sluice" / "Chart.yaml")
    assert sluice["name"] == "sluice"
    assert str(sluice["version"]) == str(deps["sluice"]["version"])


def test_vendored_schemas_are_the_pinned_chart_versions(chart: dict[str, Any]) -> None:
    deps = {d["name"]: d for d in chart["dependencies"]}
    for name in ("airflow", "superset"):
        readme = (FIXTURES / name / "README.md").read_text()
        assert f"chart version {deps[name]['version']}" in readme, name
        assert (FIXTURES / name / "LICENSE").read_text().lstrip().startswith("Apache License"), name


# (b) values against each chart's schema


def test_airflow_values_validate_against_the_chart_schema(
    values: dict[str, Any], airflow_validator: jsonschema.protocols.Validator, airflow_defaults: dict[str, Any]
) -> None:
    overrides = {k: v for k, v in values["airflow"].items() if k != "enabled"}
    assert _errors(airflow_validator, overrides) == []
    assert _errors(airflow_validator, _merge(airflow_defaults, overrides)) == []


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"data": {"metadataSecretNmae": "x"}}, "data"),
        ({"dags": {"persistence": {"enabled": "no"}}}, "dags/persistence/enabled"),
        ({"data": {"metadataSecretName": 5}}, "data/metadataSecretName"),
    ],
)
def test_airflow_schema_rejects_misspelled_keys_and_wrong_types(
    values: dict[str, Any], airflow_validator: jsonschema.protocols.Validator, patch: dict[str, Any], where: str
) -> None:
    bad = _merge({k: v for k, v in values["airflow"].items() if k != "enabled"}, patch)
    errors = _errors(airflow_validator, bad)
    assert errors
    assert all(e.startswith(where) for e in errors), errors


def test_superset_values_validate_against_the_chart_schema(
    values: dict[str, Any], superset_validator: jsonschema.protocols.Validator
) -> None:
    overrides = {k: v for k, v in values["superset"].items() if k != "enabled"}
    assert _errors(superset_validator, overrides) == []


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"init": {"loadExampels": False}}, "init"),
        ({"supersetNode": {"connections": {"db_port": 5432}}}, "supersetNode/connections/db_port"),
        ({"image": {"digest": "sha256:0"}}, "image"),
        ({"serviceAccount": {"create": "yes"}}, "serviceAccount/create"),
    ],
)
def test_superset_schema_rejects_misspelled_keys_and_wrong_types(
    values: dict[str, Any], superset_validator: jsonschema.protocols.Validator, patch: dict[str, Any], where: str
) -> None:
    bad = _merge({k: v for k, v in values["superset"].items() if k != "enabled"}, patch)
    errors = _errors(superset_validator, bad)
    assert errors
    assert all(e.startswith(where) for e in errors), errors


# (c) what Sluice's values say


def test_airflow_runs_sluice_the_way_the_k8s_profile_needs(values: dict[str, Any]) -> None:
    from sluice.orchestration.alerts import SLACK_CONNECTION
    from sluice.settings import Settings

    defaults = Settings.model_fields
    airflow = values["airflow"]
    assert airflow["executor"] == "KubernetesExecutor"
    repository, tag = defaults["spark_image"].default.rsplit(":", 1)
    assert airflow["images"]["airflow"] == {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}
    # DAGs and code are in the image.
    assert airflow["dags"]["persistence"]["enabled"] is False
    assert airflow["dags"]["gitSync"]["enabled"] is False
    env = {e["name"]: e["value"] for e in airflow["env"]}
    assert env["SLUICE_PROFILE"] == "k8s"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == airflow["config"]["core"]["dags_folder"] == "/opt/sluice/dags"
    # Metadata database and keys from Secrets; no bundled database.
    assert airflow["postgresql"]["enabled"] is False
    assert airflow["data"]["metadataSecretName"]
    assert "metadataConnection" not in airflow["data"]
    for key in ("fernetKeySecretName", "apiSecretKeySecretName", "jwtSecretName", "webserverSecretKeySecretName"):
        assert airflow[key], key
    # The Slack connection Sluice's alerts use, from a Secret.
    secrets = {s["envName"]: s for s in airflow["secret"]}
    slack = secrets[f"AIRFLOW_CONN_{SLACK_CONNECTION.upper()}"]
    assert slack["secretName"]
    assert slack["secretKey"]
    # Sluice's settings ConfigMap and Secret in every container.
    env_from = yaml.safe_load(airflow["extraEnvFrom"])
    assert {"configMapRef": {"name": defaults["k8s_settings_config_map"].default}} in env_from
    assert {"secretRef": {"name": defaults["k8s_settings_secret"].default}} in env_from
    # Task pods run as terraform's airflow service account, with its IRSA annotation.
    sa = airflow["workers"]["kubernetes"]["serviceAccount"]
    assert sa["name"] == _terraform_service_accounts()["airflow"]
    assert "eks.amazonaws.com/role-arn" in sa["annotations"]
    assert airflow["securityContexts"]["pod"]["runAsNonRoot"] is True
    assert airflow["securityContexts"]["pod"]["runAsUser"] != 0
    assert airflow["securityContexts"]["containers"]["allowPrivilegeEscalation"] is False


def test_superset_secret_key_and_database_come_from_secrets(values: dict[str, Any]) -> None:
    superset = values["superset"]
    assert superset["envFromSecret"]
    assert 'os.environ["SUPERSET_SECRET_KEY"]' in superset["configOverrides"]["secret_key"]
    assert superset["postgresql"]["enabled"] is False
    assert superset["init"]["loadExamples"] is False
    assert superset["init"]["createAdmin"] is False
    pyproject = (ROOT / "superset" / "pyproject.toml").read_text()
    pinned = re.search(r'apache-superset\[[^\]]*\]==([\d.]+)"', pyproject)
    assert pinned
    assert superset["image"]["tag"] == pinned.group(1)


def test_no_secret_value_is_written_in_values(values: dict[str, Any]) -> None:
    secretish = re.compile(r"(^|_)(pass|password|token)$|^(secret_key|SECRET_KEY|fernetKey|fernet_key)$")
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if secretish.search(str(key)) and isinstance(value, str) and value and "os.environ" not in value:
                    found.append(f"{path}{key}")
                walk(value, f"{path}{key}.")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}{i}.")

    walk(values, "")
    assert found == []


def _terraform_service_accounts() -> dict[str, str]:
    text = (ROOT / "terraform" / "envs" / "prod" / "variables.tf").read_text()
    block = re.search(r'variable "service_accounts".*?default\s*=\s*\{(.*?)\}', text, re.S)
    assert block
    return dict(re.findall(r'(\w+)\s*=\s*"([^"]+)"', block.group(1)))


# (d) the vendored spark-operator renders and every object validates


@pytest.fixture(scope="module")
def operator_manifests(values: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("spark-operator")
    values_file = tmp / "values.yaml"
    values_file.write_text(yaml.safe_dump({k: v for k, v in values["spark-operator"].items() if k != "enabled"}))
    result = helm("template", "spark-operator", str(VENDOR), "--namespace", "spark-operator",
                  "--kube-version", KUBE_VERSION, "--include-crds", "-f", str(values_file))  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def operator_objects(operator_manifests: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(operator_manifests) if doc]


def test_spark_operator_objects_validate_with_kubeconform_strict(
    operator_manifests: str, operator_objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    report = kubeconform(operator_manifests, write_schemas(tmp_path, operator_objects))
    summary = report["summary"]
    problems = [r for r in report.get("resources", []) if r.get("status") != "statusValid"]
    assert report["returncode"] == 0, problems
    assert (summary["invalid"], summary["errors"], summary["skipped"]) == (0, 0, 0), (summary, problems)
    assert summary["valid"] == len(operator_objects) >= 10
    kinds = {o["kind"] for o in operator_objects}
    assert {"CustomResourceDefinition", "Deployment", "ClusterRole", "MutatingWebhookConfiguration"} <= kinds


def test_spark_operator_crds_against_the_shared_sparkapplication_schemas(
    operator_objects: list[dict[str, Any]],
) -> None:
    """Every field of the vendored (2.5.2) CRDs is in the shared schemas (2.5.0-rc.0) the repository's manifests are
    validated against; the shared ones also know a few newer fields (KNOWN_NEWER), which Sluice's manifests must not
    use until the operator is upgraded."""
    shared = SHARED_CRDS
    crds = {o["metadata"]["name"]: o for o in operator_objects if o["kind"] == "CustomResourceDefinition"}
    assert {"sparkapplications.sparkoperator.k8s.io", "scheduledsparkapplications.sparkoperator.k8s.io"} <= set(crds)
    assert shared.exists(), f"{shared} is missing (the spark-operator's CRDs, kept in ../shared/schemas)"
    for name in ("sparkapplications", "scheduledsparkapplications"):
        theirs = _yaml(shared / f"sparkoperator.k8s.io_{name}.yaml")
        ours = crds[f"{name}.sparkoperator.k8s.io"]
        assert [v["name"] for v in ours["spec"]["versions"]] == [v["name"] for v in theirs["spec"]["versions"]]
        for mine, other in zip(ours["spec"]["versions"], theirs["spec"]["versions"], strict=True):
            only_ours, only_theirs = _field_paths(mine["schema"]["openAPIV3Schema"], other["schema"]["openAPIV3Schema"])
            assert only_ours == [], name
            assert {p.rsplit("/", 1)[-1] for p in only_theirs} <= KNOWN_NEWER, (name, only_theirs)
    used = "\n".join(p.read_text() for p in (ROOT / "sluice").rglob("*.py"))
    assert not [field for field in KNOWN_NEWER if field in used]


KNOWN_NEWER = {"driverPodDisruptionBudget", "fileKeyRef", "stopSignal", "restartPolicyRules", "podCertificate"}


def _field_paths(ours: Any, theirs: Any, path: str = "") -> tuple[list[str], list[str]]:
    only_ours: list[str] = []
    only_theirs: list[str] = []
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in set(ours) | set(theirs):
            if key == "description":
                continue
            if key not in theirs:
                only_ours.append(f"{path}/{key}")
            elif key not in ours:
                only_theirs.append(f"{path}/{key}")
            else:
                a, b = _field_paths(ours[key], theirs[key], f"{path}/{key}")
                only_ours += a
                only_theirs += b
    elif isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for i, (a_item, b_item) in enumerate(zip(ours, theirs, strict=True)):
            a, b = _field_paths(a_item, b_item, f"{path}[{i}]")
            only_ours += a
            only_theirs += b
    return only_ours, only_theirs


# (e) the operator is confined to the sluice namespace


def test_spark_operator_watches_only_the_sluice_namespace(operator_objects: list[dict[str, Any]]) -> None:
    from sluice.settings import Settings

    namespace = Settings.model_fields["k8s_namespace"].default
    deployments = {o["metadata"]["name"]: o for o in operator_objects if o["kind"] == "Deployment"}
    for name in ("spark-operator-controller", "spark-operator-webhook"):
        args = deployments[name]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--namespaces={namespace}" in args, (name, args)
    # Roles over Spark's pods and SparkApplications only in the job namespace (and its own, for leader election).
    role_namespaces = {o["metadata"]["namespace"] for o in operator_objects if o["kind"] in ("Role", "RoleBinding")}
    assert role_namespaces <= {namespace, "spark-operator"}
    assert namespace in role_namespaces
    for role in (o for o in operator_objects if o["kind"] == "ClusterRole"):
        resources = {r for rule in role.get("rules", []) for r in rule.get("resources", [])}
        assert not resources & {"pods", "sparkapplications", "configmaps", "services"}, role["metadata"]["name"]
    # No Spark service account of its own: the sluice chart creates sluice-spark.
    assert not [
        o for o in operator_objects if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "sluice-spark"
    ]


def test_kubeconform_strict_rejects_an_unknown_field(
    operator_manifests: str, operator_objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The converted schemas are really applied: an unknown field in a Deployment's spec is an error."""
    deployment = copy.deepcopy(next(o for o in operator_objects if o["kind"] == "Deployment"))
    deployment["spec"]["replicaz"] = 1
    report = kubeconform(yaml.safe_dump(deployment), write_schemas(tmp_path, operator_objects))
    assert report["returncode"] != 0
    assert report["summary"]["invalid"] == 1


def test_airflow_version_is_the_one_in_the_sluice_image(values: dict[str, Any]) -> None:
    """The chart adapts to `airflowVersion`; the image's Airflow is the one uv.lock pins for the repository."""
    pinned = re.search(r'"apache-airflow\[[^\]]*\]==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned, "pyproject.toml pins apache-airflow exactly"
    assert values["airflow"]["airflowVersion"] == pinned.group(1)
