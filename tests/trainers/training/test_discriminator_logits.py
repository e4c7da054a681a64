"""The auto-encoder stage's adversarial losses under bf16 autocast.

The reproduction runs through the CPU's bf16 autocast path (`cpu_fast_path`), which takes
the same code as CUDA. With the last layer's bias at 7 and its weights at 0, every logit is
exactly 7, and the fp32 answers are known in closed form:

    loss = -log sigmoid(7) - log(1 - sigmoid(7)) = softplus(-7) + softplus(7)
         = 7 + 2 log(1 + e^-7) = 7.0018...
    d loss / d bias = sigmoid(7) - sigmoid(-7) = tanh(3.5) = 0.99818...

Before the fix the sigmoid ran in bf16: sigmoid(7) = 0.99909 rounds to exactly 1.0 (bf16
keeps 8 significant bits; the spacing below 1 is 2^-8), so log(1 - p + 1e-8) = log(1e-8):
the loss read 18.42 and the gradient through the sigmoid, p (1 - p), was 0.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainers.models.config import ModelConfig
from trainers.models.discriminators import ImageDiscriminator, LatentDiscriminator
from trainers.training.device import autocast_context, cpu_fast_path
from trainers.training.pretrain import fool_loss, real_fake_loss

CPU = torch.device("cpu")
CONFIG = ModelConfig("3fabrec", 0, 64, 0.25, 99)
LOSS_AT_7 = 7 + 2 * math.log1p(math.exp(-7))  # softplus(-7) + softplus(7)
GRAD_AT_7 = math.tanh(3.5)  # sigmoid(7) - sigmoid(-7)
SATURATED = -math.log(1e-8)  # -log(1 - 1.0 + 1e-8): 18.42


def _latent(weight_scale: float) -> LatentDiscriminator:
    torch.manual_seed(0)
    d = LatentDiscriminator(CONFIG).eval()  # eval: no dropout draws
    with torch.no_grad():
        d.lin3.weight.mul_(weight_scale)
        d.lin3.bias.fill_(7.0)
    return d


def _loss_and_grad(d: LatentDiscriminator, fast: bool) -> tuple[float, float]:
    """The discriminator's loss on (real, fake) codes and its gradient on lin3's bias, on
    the exact fp32 path or through bf16 autocast."""
    torch.manual_seed(1)
    real, fake = torch.randn(16, CONFIG.z_dim), torch.randn(16, CONFIG.z_dim)
    d.zero_grad()
    with cpu_fast_path(fast), autocast_context(CPU, True):
        loss = real_fake_loss(d.logits(real), d.logits(fake), with_logits=fast)
    loss.backward()
    assert d.lin3.bias.grad is not None
    return float(loss.detach()), float(d.lin3.bias.grad)


def test_the_bf16_sigmoid_saturates_as_it_did_before_the_fix() -> None:
    """The defect itself: the old forward (sigmoid on lin3's bf16 output) and loss."""
    d = _latent(0.0)
    z = torch.randn(16, CONFIG.z_dim)
    with cpu_fast_path(), autocast_context(CPU, True), torch.no_grad():
        h = F.relu(d.lin2(F.relu(d.lin1(z))))
        p = torch.sigmoid(d.lin3(h)).squeeze(1)  # the forward before fp32 logits
        assert p.dtype == torch.bfloat16 and bool((p == 1.0).all())
        old = -torch.mean(torch.log(p.float() + 1e-8) + torch.log(1.0 - p.float() + 1e-8))
    assert float(old) == pytest.approx(SATURATED)
    assert float(old) > 2.5 * LOSS_AT_7


@pytest.mark.parametrize("fast", [False, True], ids=["fp32", "bf16-autocast"])
def test_discriminator_loss_and_gradient_are_the_fp32_answers(fast: bool) -> None:
    """rel 1e-4: in fp32, 1 - sigmoid(7) = 9.1e-4 keeps about 4 significant digits (and the
    exact path's 1e-8 guard moves the gradient by 1e-5 relative)."""
    loss, grad = _loss_and_grad(_latent(0.0), fast)
    assert loss == pytest.approx(LOSS_AT_7, rel=1e-4)
    assert grad == pytest.approx(GRAD_AT_7, rel=1e-4)


def test_fool_loss_keeps_its_gradient_under_bf16() -> None:
    """-log D(fake) at logit 7: loss softplus(-7) = 9.1e-4, gradient -(1 - sigmoid(7));
    a bf16 probability of 1.0 made both exactly 0."""
    want_loss, want_grad = math.log1p(math.exp(-7)), -1 / (1 + math.exp(7))
    for fast in (False, True):
        d = _latent(0.0)
        with cpu_fast_path(fast), autocast_context(CPU, True):
            loss = fool_loss(d.logits(torch.randn(8, CONFIG.z_dim)), with_logits=fast)
        loss.backward()
        assert float(loss.detach()) == pytest.approx(want_loss, rel=1e-4)
        assert float(d.lin3.bias.grad) == pytest.approx(want_grad, rel=1e-4)  # type: ignore[arg-type]


def test_with_real_weights_bf16_stays_within_its_rounding_of_fp32() -> None:
    """Logits near 7 from real (scaled-down) weights: bf16 matmuls before the last layer
    move the loss and gradient by about bf16's 2^-8 per layer, not by 2.6x."""
    exact_loss, exact_grad = _loss_and_grad(_latent(0.05), fast=False)
    fast_loss, fast_grad = _loss_and_grad(_latent(0.05), fast=True)
    assert fast_loss == pytest.approx(exact_loss, rel=0.03)
    assert fast_grad == pytest.approx(exact_grad, rel=0.03)


def test_logits_are_fp32_under_autocast_and_the_exact_path_is_unchanged() -> None:
    torch.manual_seed(0)
    image_d, latent_d = ImageDiscriminator(CONFIG).eval(), LatentDiscriminator(CONFIG).eval()
    x, z = torch.randn(2, 3, 64, 64), torch.randn(2, CONFIG.z_dim)
    with cpu_fast_path(), autocast_context(CPU, True):
        assert image_d.logits(x).dtype == torch.float32
        assert latent_d.logits(z).dtype == torch.float32
    # On the exact path the probabilities are the sigmoid of the same layers as before.
    before = torch.sigmoid(torch.nn.Sequential(*image_d.main)(x)).flatten()
    assert torch.equal(image_d(x), before)
    h = F.relu(latent_d.lin2(F.relu(latent_d.lin1(z))))
    assert torch.equal(latent_d(z), torch.sigmoid(latent_d.lin3(h)).squeeze(1))
