"""Local platform: scripts and commands as processes on this machine (``VirtualEnvSDK``)."""

from hoist.tao_sdk.platforms.virtualenv.sdk import VirtualEnvSDK

__all__ = ["VirtualEnvSDK"]
