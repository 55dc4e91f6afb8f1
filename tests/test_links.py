"""Links are invertible and reject outputs they cannot transform."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise.links import get_link, identity, logit


def test_logit_inverts_sigmoid():
    p = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(logit.inverse(logit(p)), p)
    np.testing.assert_allclose(logit(p), np.log(p / (1 - p)))
    assert get_link("identity") is identity


def test_bad_links():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        logit(np.array([0.0, 0.5]))
    with pytest.raises(ValueError, match="unknown link 'probit'"):
        get_link("probit")
