"""SLURM platform: sbatch jobs on a cluster over ssh to a login node (``SlurmSDK``)."""

from hoist.tao_sdk.platforms.slurm.sdk import SlurmSDK

__all__ = ["SlurmSDK"]
