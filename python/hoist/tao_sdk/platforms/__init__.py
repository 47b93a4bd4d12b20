"""The platform SDKs, one sub-package each, as TAO lays them out:
``hoist.tao_sdk.platforms.{docker,slurm,kubernetes,brev,lepton,virtualenv}``."""

from hoist.tao_sdk.platforms.protocol import PlatformSDK

__all__ = ["PlatformSDK"]
