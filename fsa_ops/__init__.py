"""fsa_ops: Native Sparse Attention with the FSA kernel design, as torch.library custom ops.

`import fsa_ops` registers everything: the `torch.ops.fsa` ops with their autograd, the fake
impls (`fake_impls`) and the Inductor lowerings (`lowering`).
"""

from . import ops  # noqa: F401  (defines torch.ops.fsa.*)
from . import kernels as _kernels  # noqa: E402
import fake_impls  # noqa: F401,E402
import lowering  # noqa: F401,E402

import torch  # noqa: E402

from . import reference  # noqa: E402
from .functional import NSAConfig, nsa_attention  # noqa: E402
from .module import NativeSparseAttention  # noqa: E402

__version__ = "0.1.0"


_kernels.register()


def kernels_available(device) -> bool:
    """Whether the forward ops run Triton kernels on `device` (else the PyTorch reference)."""
    return torch.device(device).type in _kernels.registered_devices()
__all__ = ["NSAConfig", "NativeSparseAttention", "nsa_attention", "reference", "__version__", "kernels_available"]
