"""fsa_ops: Native Sparse Attention with the FSA kernel design, as torch.library custom ops.

`import fsa_ops` registers everything: the `torch.ops.fsa` ops with their autograd, the fake
impls (`fake_impls`) and the Inductor lowerings (`lowering`).
"""

from . import ops  # noqa: F401  (defines torch.ops.fsa.*)
import fake_impls  # noqa: F401,E402
import lowering  # noqa: F401,E402

from . import reference  # noqa: E402
from .functional import NSAConfig, nsa_attention  # noqa: E402
from .module import NativeSparseAttention  # noqa: E402

__version__ = "0.1.0"


def kernels_available(device) -> bool:
    """Whether torch.ops.fsa runs Triton kernels on `device` (else the PyTorch reference)."""
    del device
    return False  # no Triton kernel is registered yet: every device runs fsa_ops.reference
__all__ = ["NSAConfig", "NativeSparseAttention", "nsa_attention", "reference", "__version__", "kernels_available"]
