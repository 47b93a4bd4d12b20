"""Brev platform: NVIDIA Brev cloud GPU instances (``BrevSDK``)."""

from hoist.tao_sdk.platforms.brev.sdk import BrevSDK

__all__ = ["BrevSDK"]
