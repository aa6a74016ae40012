"""EKS: a private, encrypted control plane; a general node group and a tainted GPU node group whose label and taint
are the ones Sluice's training pods select and tolerate (sluice/settings.py)."""

from __future__ import annotations

import re

from sluice.settings import Settings
from tests.terraform.config import module, prod, ref

EKS = module("eks")
GPU_DEFAULTS = prod().variable("gpu_node_group")["default"]
CONTROL_PLANE_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")
GPU_INSTANCE = re.compile(r"(g4dn|g5|g6|g6e|p4d|p5)\.[0-9a-z]+")  # NVIDIA GPU families EKS's NVIDIA AMI supports


def test_the_gpu_node_group_is_tainted_no_schedule() -> None:
    gpu = EKS.resource("aws_eks_node_group", "gpu")
    assert gpu["taint"] == [{"key": "${var.gpu_node_group.taint_key}", "value": "true", "effect": "NO_SCHEDULE"}]
    assert GPU_DEFAULTS["taint_key"] == Settings.model_fields["k8s_gpu_toleration_key"].default


def test_the_gpu_node_group_carries_the_label_training_pods_select() -> None:
    assert ref(EKS.resource("aws_eks_node_group", "gpu")["labels"]) == "var.gpu_node_group.labels"
    assert GPU_DEFAULTS["labels"] == Settings.model_fields["k8s_gpu_node_selector"].default
    assert ref(prod().module("eks")["gpu_node_group"]) == "var.gpu_node_group"


def test_the_gpu_node_group_runs_gpu_instances_with_the_nvidia_ami() -> None:
    gpu = EKS.resource("aws_eks_node_group", "gpu")
    assert gpu["ami_type"] == "AL2023_x86_64_NVIDIA"
    types = GPU_DEFAULTS["instance_types"]
    assert types
    assert all(GPU_INSTANCE.fullmatch(type_) for type_ in types), types
    assert GPU_DEFAULTS["min_size"] == 0, "no GPU is paid for between training runs"


def test_the_general_node_group_is_untainted_and_not_gpu() -> None:
    general = EKS.resource("aws_eks_node_group", "general")
    assert "taint" not in general
    assert general["ami_type"] == "AL2023_x86_64_STANDARD"
    types = prod().variable("general_node_group")["default"]["instance_types"]
    assert not any(GPU_INSTANCE.fullmatch(type_) for type_ in types)


def test_the_control_plane_is_private_encrypted_and_logged() -> None:
    cluster = EKS.resource("aws_eks_cluster", "this")
    vpc = cluster["vpc_config"][0]
    assert (vpc["endpoint_private_access"], vpc["endpoint_public_access"]) == (True, False)
    assert cluster["encryption_config"] == [{"resources": ["secrets"], "provider": [{"key_arn": "${var.kms_key_arn}"}]}]
    assert set(cluster["enabled_cluster_log_types"]) == set(CONTROL_PLANE_LOGS)


def test_nodes_get_no_lake_access_of_their_own() -> None:
    """Pods get AWS access from their service account's role (IRSA); the node role only runs nodes."""
    attachments = EKS.resource("aws_iam_role_policy_attachment", "node")
    assert set(re.findall(r'"([^"]+)"', attachments["for_each"])) == {
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonEC2ContainerRegistryReadOnly",
    }
    assert not EKS.resources("aws_iam_role_policy").keys() - {"cluster_kms"}


def test_an_oidc_provider_lets_service_accounts_assume_roles() -> None:
    provider = EKS.resource("aws_iam_openid_connect_provider", "this")
    assert ref(provider["url"]) == "aws_eks_cluster.this.identity[0].oidc[0].issuer"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
