"""Kubernetes platform: a Job per job through the Kubernetes API (``KubernetesSDK``)."""

from hoist.tao_sdk.platforms.kubernetes.sdk import KubernetesSDK

__all__ = ["KubernetesSDK"]
