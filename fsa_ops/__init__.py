"""fsa_ops: Native Sparse Attention with the FSA kernel design, as torch.library custom ops.

`import fsa_ops` registers everything: the `torch.ops.fsa` ops with their autograd
(`fsa_ops.ops`), the Triton kernels for the devices that run them (`fsa_ops.kernels`), the
fake impls (`fake_impls`) and the Inductor lowerings (`lowering`).
"""

import torch

from . import ops  # noqa: F401  (defines torch.ops.fsa.*)
from . import kernels as _kernels
import fake_impls  # noqa: F401,E402
import lowering  # noqa: F401,E402

from . import reference  # noqa: E402
from .functional import NSAConfig, nsa_attention  # noqa: E402
from .module import NativeSparseAttention  # noqa: E402

__version__ = "0.1.0"
__all__ = ["NSAConfig", "NativeSparseAttention", "nsa_attention", "reference",
           "kernels_available", "__version__"]

_kernels.register()


def kernels_available(device) -> bool:
    """Whether the forward ops run Triton kernels on `device` (else the PyTorch reference)."""
    return torch.device(device).type in _kernels.registered_devices()
