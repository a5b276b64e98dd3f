"""The full softmax in bf16 on a CPU with bf16 units: same loss and gradients, to bf16 rounding."""

from __future__ import annotations

import pytest
import torch

from models.long_term.training import _autocast, cpu_has_fast_bf16, full_softmax_loss


@pytest.mark.skipif(not cpu_has_fast_bf16(), reason="this CPU has no native bf16")
@pytest.mark.parametrize("positions", [50, 4000])  # probabilities kept / remade in backward
def test_bf16_softmax_matches_fp32(positions):
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(positions, 16, generator=generator)
    items = 0.3 * torch.randn(9000, 16, generator=generator)
    targets = torch.randint(0, 9000, (positions,), generator=generator)
    results = []
    for amp in (False, True):
        h, w = hidden.clone().requires_grad_(), items.clone().requires_grad_()
        with _autocast(torch.device("cpu"), amp=True, cpu_bf16=amp):
            loss = full_softmax_loss(h, w, targets)
        loss.backward()
        assert h.grad is not None and w.grad is not None
        results.append((loss.detach(), h.grad, w.grad))
    (loss32, h32, w32), (loss16, h16, w16) = results
    assert not torch.equal(w16, w32)  # bf16 did run
    assert torch.isclose(loss16, loss32, rtol=1e-3)
    for low, exact in ((h16, h32), (w16, w32)):
        # bf16 keeps 8 bits of mantissa: about 0.4% per product, less in sums of many.
        assert float((low - exact).norm() / exact.norm()) < 0.02
