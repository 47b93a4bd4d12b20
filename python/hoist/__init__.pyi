"""Types of ``import hoist``: the handle, its jobs and runs, the exceptions.

The classes are typed where they are defined (``hoist._client``, ``hoist._job``, and
``hoist._native.pyi`` for the extension module); this stub names what the package exports.
"""

from hoist._client import Hoist as Hoist
from hoist._job import Job as Job
from hoist._job import Run as Run
from hoist._native import CredentialError as CredentialError
from hoist._native import HoistError as HoistError
from hoist._native import InputError as InputError
from hoist._native import NotFoundError as NotFoundError
from hoist._native import PlatformError as PlatformError
from hoist._native import StoreError as StoreError

__version__: str
__all__ = [
    "CredentialError",
    "Hoist",
    "HoistError",
    "InputError",
    "Job",
    "NotFoundError",
    "PlatformError",
    "Run",
    "StoreError",
    "__version__",
]
