"""3FabRec / SCAF networks: official parameter counts, key names, shapes and head wiring."""

from __future__ import annotations

import pytest
import torch

from trainers.models import IMAGE_MEAN, ModelConfig, build_model
from trainers.models.bottleneck import BulatBlock
from trainers.models.config import scaled_channels


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.fixture(scope="module")
def full_scaf98():
    torch.manual_seed(0)
    return build_model("scaf", num_landmarks=98, input_size=256, width=1.0,
                       with_discriminators=True)


def test_official_parameter_counts_at_256(full_scaf98):
    m = full_scaf98
    assert _count(m.Q) == 11_379_491
    assert _count(m.P) == 10_868_096
    assert _count(m.D_z) == 1_102_001
    assert _count(m.D) == 1_743_744
    assert sum(_count(b) for b in m.LMH.skip_blocks()) == 559_360
    assert [_count(b) for b in m.LMH.skip_blocks()] == [406_400, 101_824, 25_568, 25_568]
    assert _count(m.LMH) == 911_360 + 559_360
    assert len(m.head_parameters()) == len(list(m.LMH.parameters()))
    fab68 = build_model("3fabrec", num_landmarks=68, input_size=256)
    assert _count(fab68.LMH) == 880_640
    assert fab68.D is None and fab68.D_z is None


def test_official_state_dict_names_and_shapes(full_scaf98):
    sd = full_scaf98.state_dict()
    expected = {
        "Q.conv1.weight": (64, 3, 7, 7),
        "Q.layer0.0.conv1.weight": (64, 64, 3, 3),
        "Q.layer1.0.downsample.0.weight": (64, 64, 1, 1),
        "Q.layer1.0.downsample.1.running_var": (64,),
        "Q.layer4.1.bn2.num_batches_tracked": (),
        "Q.fc.weight": (99, 512),
        "P.fc.weight": (512, 99),
        "P.conv1.weight": (512, 512, 4, 4),
        "P.layer1.0.conv1.weight": (512, 256, 4, 4),
        "P.layer5.0.upsample.0.weight": (64, 64, 4, 4),
        "P.layer5.0.upsample.1.weight": (64,),
        "P.lin.weight": (64, 3, 4, 4),
        "D_z.lin1.weight": (1000, 99),
        "D_z.lin3.bias": (1,),
        "D.main.0.weight": (32, 3, 4, 4),
        "D.main.3.running_mean": (64,),
        "D.main.12.weight": (256,),
        "D.main.14.weight": (1, 256, 4, 4),
        "LMH.t1.weight": (256, 256, 3, 3),
        "LMH.t4.weight": (64, 64, 3, 3),
        "LMH.lin.weight": (64, 98, 4, 4),
        "LMH.skip8.conv1.weight": (128, 256, 3, 3),
        "LMH.skip64.conv3.weight": (16, 16, 3, 3),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert not any(k.startswith("Q.layer0.0.downsample") for k in sd)  # stride 1, 64->64
    assert not any(".downsample" in k for k in sd if k.startswith("LMH.skip"))  # C->C


def test_forward_shapes_at_256_batch_one(full_scaf98):
    m = full_scaf98.eval()
    x = torch.zeros(1, 3, 256, 256)
    with torch.no_grad():
        hm, z = m.heatmaps_and_features(x)
    assert hm.shape == (1, 98, 128, 128) and z.shape == (1, 99)


@pytest.mark.parametrize("arch", ["3fabrec", "scaf"])
def test_shapes_at_64_quarter_width(arch):
    torch.manual_seed(0)
    m = build_model(arch, num_landmarks=5, input_size=64, width=0.25, with_discriminators=True)
    x = torch.randn(2, 3, 64, 64) * 0.3
    assert m.encode(x).shape == (2, 99)
    rec = m.reconstruct(x)
    assert rec.shape == (2, 3, 64, 64) and rec.abs().max() <= 1.0
    assert m.heatmaps(x).shape == (2, 5, 32, 32)
    assert m.D(x).shape == (2,) and m.D_z(m.encode(x)).shape == (2,)
    assert m.config == ModelConfig(arch, 5, 64, 0.25, 99)
    m.eval()
    hm, z = m.heatmaps_and_features(x)
    torch.testing.assert_close(z, m.encode(x), rtol=0, atol=0)
    torch.testing.assert_close(hm, m.heatmaps(x), rtol=0, atol=0)


def test_input_128_and_stage_sides():
    m = build_model("scaf", num_landmarks=3, input_size=128, width=0.25).eval()
    x = torch.randn(1, 3, 128, 128)
    z, feats = m.Q.features(x)
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4]
    assert m.P.stem(z).shape[-1] == 2 and m.P.head_input(z).shape[-1] == 4
    assert m.heatmaps(x).shape == (1, 3, 64, 64)


def test_3fabrec_head_follows_itl_data_flow():
    """Heatmaps = lin(t4(P4(t3(P3(t2(P2(t1(x1)))))))) with x1 the generator's layer1 output."""
    torch.manual_seed(1)
    m = build_model("3fabrec", num_landmarks=4, input_size=64, width=0.25).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        h, p = m.LMH, m.P
        x1 = p.layer1(torch.relu(p.bn1(p.conv1(p.fc(m.Q(x)).view(2, -1, 1, 1)))))
        want = h.lin(h.t4(p.layer4(h.t3(p.layer3(h.t2(p.layer2(h.t1(x1))))))))
        torch.testing.assert_close(m.heatmaps(x), want, rtol=0, atol=0)


def test_scaf_skips_feed_the_head_and_get_gradients():
    torch.manual_seed(2)
    scaf = build_model("scaf", num_landmarks=4, input_size=64, width=0.25)
    fab = build_model("3fabrec", num_landmarks=4, input_size=64, width=0.25)
    fab.load_state_dict({k: v for k, v in scaf.state_dict().items() if ".skip" not in k})
    scaf.eval()
    fab.eval()
    x = torch.randn(2, 3, 64, 64)
    assert not torch.allclose(scaf.heatmaps(x), fab.heatmaps(x))
    scaf.heatmaps(x).square().mean().backward()
    for block in scaf.LMH.skip_blocks():
        assert block.conv1.weight.grad is not None and block.conv1.weight.grad.abs().sum() > 0
    assert scaf.Q.layer0[0].conv1.weight.grad.abs().sum() > 0  # skip64 reaches layer0


def test_supervised_mode_freezes_generator_and_trains_head():
    m = build_model("scaf", num_landmarks=4, input_size=64, width=0.25).set_supervised_mode()
    assert not m.Q.training and not m.P.training
    assert m.LMH.training and m.LMH.skip8.bn1.training
    assert all(not p.requires_grad for p in m.P.parameters())
    assert all(p.requires_grad for p in m.encoder_parameters())
    assert all(p.requires_grad for p in m.head_parameters())
    x = torch.randn(2, 3, 64, 64)
    m.heatmaps(x).sum().backward()
    assert m.Q.conv1.weight.grad is not None  # gradients flow through frozen P into Q
    assert m.P.layer2[0].conv1.weight.grad is None


def test_bulat_block_projection_when_channels_change():
    b = BulatBlock(8, 16)
    assert b(torch.randn(1, 8, 5, 5)).shape == (1, 16, 5, 5)
    assert _count(b.downsample) == 2 * 8 + 8 * 16  # BN(C_in) + 1x1 conv, as model.md says
    assert set(dict(b.named_parameters())) >= {"downsample.0.weight", "downsample.2.weight"}


def test_config_validation_and_round_trip():
    c = ModelConfig("scaf", 19, 128, 0.5)
    assert ModelConfig.from_dict(c.to_dict()) == c
    for bad in (dict(arch="resnet"), dict(input_size=32), dict(input_size=100),
                dict(num_landmarks=-1), dict(width=0.0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ModelConfig(**bad)
    with pytest.raises(ValueError, match=r"model_config\.depth: unknown key; allowed: arch, "):
        ModelConfig.from_dict({"arch": "scaf", "depth": 3})
    assert scaled_channels(64, 0.25) == 16 and scaled_channels(64, 0.01) == 4
    assert scaled_channels(1000, 1.0) == 1000
    assert IMAGE_MEAN == (0.518, 0.418, 0.361)


def test_autoencoder_only_model_has_no_head():
    m = build_model("3fabrec", num_landmarks=0, input_size=64, width=0.25)
    assert m.LMH is None
    assert m(torch.zeros(2, 3, 64, 64)).shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="no landmark head"):
        m.heatmaps(torch.zeros(1, 3, 64, 64))
