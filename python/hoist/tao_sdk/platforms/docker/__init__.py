"""Docker platform: jobs as containers on a local or remote Docker daemon (``DockerSDK``)."""

from hoist.tao_sdk.platforms.docker.sdk import DockerSDK

__all__ = ["DockerSDK"]
