"""Lepton platform: NVIDIA DGX Cloud Lepton jobs (``LeptonSDK``; hoist's, TAO has none)."""

from hoist.tao_sdk.platforms.lepton.sdk import LeptonSDK

__all__ = ["LeptonSDK"]
