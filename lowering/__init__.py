"""Inductor lowerings and decompositions for the `torch.ops.fsa` ops.

None are registered yet: in compiled graphs every fsa op is an opaque custom-op call whose
fake impl (see `fake_impls`) gives Inductor the output shapes. Fusing the gate and the
selection glue into the surrounding kernels is tracked in issue 6 and will be registered here,
at `import fsa_ops`, before any compile.
"""
