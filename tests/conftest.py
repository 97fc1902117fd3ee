"""Hypothesis profiles and the `cuda` marker.

Profiles (pick with HYPOTHESIS_PROFILE, default `dev`):
  ci    derandomized and bounded: what .ci/run uses on a 2-core CPU
  dev   randomized, a few more examples
  deep  heavy fuzzing for GPU runs and long sessions
All profiles run without deadlines: the first example of a test may compile.
"""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=20, derandomize=True, print_blob=True, **_common)
settings.register_profile("dev", max_examples=40, **_common)
settings.register_profile("deep", max_examples=500, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_collection_modifyitems(config, items):
    """`cuda` tests need a GPU; `triton` tests need a GPU or TRITON_INTERPRET=1."""
    has_gpu = torch.cuda.is_available()
    interpret = os.environ.get("TRITON_INTERPRET") == "1"
    for item in items:
        if "cuda" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
        elif "triton" in item.keywords and not (has_gpu or interpret):
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU or TRITON_INTERPRET=1"))
