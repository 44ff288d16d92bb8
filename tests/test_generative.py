"""Generative quality: domain FID/KID/PRC against scipy and hand references; offline Inception.

Usage: ``pytest tests/test_generative.py`` (the Inception wiring test is marked slow).
"""

from __future__ import annotations

import importlib
import math
import os

import numpy as np
import pytest
import scipy.linalg
import torch
import torch_fidelity
from torch import nn
from torch_fidelity import feature_extractor_inceptionv3 as tf_inception
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from galaxybench.errors import InputError
from galaxybench.images import to_float
from galaxybench.metrics import feature_extractors as fx
from galaxybench.metrics import generative as gen

CPU = torch.device("cpu")
NAMES = ["Disturbed", "Merging", "Round Smooth"]


class TinyNet(nn.Module):
    """A stand-in classifier: 6-d features of float images in [-1, 1], 3 logits."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
        self.dense = nn.Linear(32, 6)
        self.head = nn.Linear(6, 3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(self.conv(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _images(n: int, seed: int, brightness: int = 0, size: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.integers(0, 200, (n, 3, size, size)) + brightness, 0, 255).astype(np.uint8)


def _features(net: nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net.features(to_float(images)).double().numpy()


def _fid_scipy(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of two Gaussians fitted to feature rows (Heusel et al. 2017)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


def _kid_hand(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written out term by term."""
    m, d = len(x), x.shape[1]

    def k(a, b):
        return (float(a @ b) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


@pytest.fixture(scope="module")
def data():
    real = np.concatenate([_images(30, 1), _images(30, 2, 40), _images(30, 3)])
    real_labels = np.repeat([0, 1, 2], 30)
    synthetic = np.concatenate([_images(24, 4, 30), _images(24, 5, 10)])
    synthetic_labels = np.repeat([0, 1], 24)
    return real, real_labels, synthetic, synthetic_labels


def _quality(data, **kwargs):
    real, rl, syn, sl = data
    return gen.domain_quality(TinyNet(), real, rl, syn, sl, [0, 1], NAMES, device=CPU, **kwargs)


def test_fid_matches_scipy_sqrtm(data):
    real, rl, syn, sl = data
    q = _quality(data)
    ref = _fid_scipy(_features(TinyNet(), syn), _features(TinyNet(), real[rl < 2]))
    assert q["fid_domain"] == pytest.approx(ref, rel=1e-3)
    ref0 = _fid_scipy(_features(TinyNet(), syn[sl == 0]), _features(TinyNet(), real[rl == 0]))
    assert q["fid_domain_per_class"]["Disturbed"] == pytest.approx(ref0, rel=1e-3)
    assert q["fid_domain"] > 5e-4  # the two sets differ in brightness: not a trivial zero


def test_kid_matches_hand_unbiased_mmd_with_one_subset(data):
    real, rl, syn, sl = data
    real_a, syn_a = real[rl == 1][:20], syn[sl == 1][:20]  # equal N: one subset holding all
    q = gen.domain_quality(
        TinyNet(), real_a, np.zeros(20, int), syn_a, np.zeros(20, int), [0], NAMES, device=CPU
    )
    ref = _kid_hand(_features(TinyNet(), syn_a), _features(TinyNet(), real_a))
    assert q["kid_subset_size"] == 20 and q["kid_subsets"] == 1
    assert q["kid_domain"] == pytest.approx(ref, rel=1e-3, abs=1e-6)
    assert q["kid_domain_std"] == 0.0


def test_identical_sets_have_zero_fid_and_full_precision_recall(data):
    real = data[0][:40]
    labels = np.zeros(40, int)
    q = gen.domain_quality(TinyNet(), real, labels, real.copy(), labels, [0], NAMES, device=CPU)
    assert abs(q["fid_domain"]) < 1e-6
    assert q["precision_domain"] == 1.0 and q["recall_domain"] == 1.0


def test_batch_size_does_not_change_metrics(data):
    a, b = _quality(data, batch_size=7), _quality(data, batch_size=256)
    for key in ("fid_domain", "kid_domain", "precision_domain", "recall_domain"):
        assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-9)


def test_records_protocol_and_ns(data):
    q = _quality(data, max_samples=50, seed=3, kid_subsets=5)
    assert q["quality_n_real"] == 50 and q["quality_n_synthetic"] == 48
    assert q["quality_n_per_class"]["Disturbed"] == {"real": 30, "synthetic": 24}
    assert q["kid_subset_size"] == 48 and q["kid_subsets"] == 5 and q["fid_low_n"] is True
    assert q["feature_extractor"] == "galaxy-domain:penultimate"
    assert "galaxy-domain" in q["quality_protocol"] and "48" in q["quality_protocol"]
    assert set(q["kid_domain_per_class"]) == {"Disturbed", "Merging"}
    assert q["quality_reasons"] == {}
    assert 0.0 <= q["precision_domain"] <= 1.0 and 0.0 <= q["recall_domain"] <= 1.0


def test_subsampling_is_deterministic_by_seed(data):
    a, b, c = (_quality(data, max_samples=20, seed=s) for s in (1, 1, 2))
    assert a["fid_domain"] == b["fid_domain"] and a["quality_n_real"] == 20
    assert a["fid_domain"] != c["fid_domain"]


def test_too_few_samples_give_null_with_reason(data):
    real, rl, _, _ = data
    syn = _images(3, 9)
    q = gen.domain_quality(
        TinyNet(), real, rl, syn, np.array([0, 0, 1]), [0, 1, 2], NAMES, device=CPU
    )
    assert q["fid_domain"] is not None and q["precision_domain"] is None  # PRC needs k + 1 = 4
    assert "prc needs >= 4" in q["quality_reasons"]["precision_domain"]
    assert q["fid_domain_per_class"]["Merging"] is None
    assert q["kid_domain_per_class"]["Round Smooth"] is None
    assert "1 synthetic" in q["quality_reasons"]["fid_domain_per_class[Merging]"]
    assert "0 synthetic" in q["quality_reasons"]["kid_domain_per_class[Round Smooth]"]
    assert q["fid_domain_per_class"]["Disturbed"] is not None


def test_no_synthetic_images_at_all(data):
    real, rl, _, _ = data
    empty = np.zeros((0, 3, 16, 16), np.uint8)
    q = gen.domain_quality(TinyNet(), real, rl, empty, np.zeros(0, int), [0], NAMES, device=CPU)
    assert q["fid_domain"] is None and q["kid_domain"] is None and q["quality_n_synthetic"] == 0
    assert "fid_domain" in q["quality_reasons"]


def test_bad_inputs_raise_one_line_input_errors(data):
    real, rl, syn, sl = data
    with pytest.raises(InputError, match="uint8"):
        gen.domain_quality(TinyNet(), real.astype(np.float32), rl, syn, sl, [0], NAMES, device=CPU)
    with pytest.raises(InputError, match="labels"):
        gen.domain_quality(TinyNet(), real, rl[:5], syn, sl, [0], NAMES, device=CPU)
    with pytest.raises(InputError, match="synthetic"):
        gen.domain_quality(
            TinyNet(), real, rl, _images(4, 0, size=8), np.zeros(4, int), [0], NAMES, device=CPU
        )


def test_callers_network_is_not_modified(data):
    net = TinyNet().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    _ = gen.domain_quality(net, *data, [0, 1], NAMES, device=CPU)
    assert net.training and all(p.requires_grad for p in net.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_extractor_contract_and_weights_file(tmp_path):
    trained, template = TinyNet(seed=1), TinyNet(seed=2)
    path = tmp_path / "classifier.pt"
    torch.save(trained.state_dict(), path)
    ext = fx.FeatureExtractorGalaxyDomain(
        fx.DOMAIN_EXTRACTOR,
        [fx.PENULTIMATE, fx.LOGITS],
        feature_extractor_weights_path=str(path),
        **{fx.DOMAIN_NETWORK_KWARG: template},
    )
    x = torch.from_numpy(_images(5, 0))
    feats, logits = ext(x)
    with torch.no_grad():
        assert torch.allclose(feats, trained.features(to_float(x)))
        assert torch.allclose(logits, trained(to_float(x)))
    assert ext.get_default_feature_layer_for_metric("fid") == fx.PENULTIMATE
    with pytest.raises(ValueError, match="uint8"):
        ext(x.float())
    with pytest.raises(ValueError, match=fx.DOMAIN_NETWORK_KWARG):
        fx.FeatureExtractorGalaxyDomain(fx.DOMAIN_EXTRACTOR, [fx.PENULTIMATE])


def test_registration_is_idempotent_and_survives_reimport(monkeypatch):
    fx.ensure_registered()
    fx.ensure_registered()
    importlib.reload(fx)  # a Ray worker importing the module again runs its registration again
    assert fx.DOMAIN_EXTRACTOR in FEATURE_EXTRACTORS_REGISTRY
    monkeypatch.setitem(
        FEATURE_EXTRACTORS_REGISTRY, fx.DOMAIN_EXTRACTOR, torch_fidelity.FeatureExtractorInceptionV3
    )
    with pytest.raises(ValueError, match="already registered"):
        fx.ensure_registered()


# --- Inception: offline only -------------------------------------------------------------------


@pytest.fixture
def no_download(monkeypatch, tmp_path):
    """An empty TORCH_HOME and a downloader that fails the test if torch-fidelity reaches it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def forbidden(*args, **kwargs):
        raise AssertionError("torch-fidelity tried to download Inception weights")

    monkeypatch.setattr(tf_inception, "load_state_dict_from_url", forbidden)
    return tmp_path


def test_inception_without_weights_is_null_with_reason(no_download):
    real, syn = _images(4, 0), _images(4, 1)
    q = gen.inception_quality(real, syn, device=CPU)
    assert q["fid_inception"] is None and q["isc_inception_mean"] is None
    assert "not found" in q["inception_reason"]
    assert str(no_download / "torch-home") in q["inception_reason"]
    assert "little meaning" in q["inception_note"]
    q = gen.inception_quality(real, syn, weights_path=no_download / "missing.pth", device=CPU)
    assert "missing.pth" in q["inception_reason"]


def test_inception_with_unusable_weights_is_null_with_reason(no_download):
    junk = no_download / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    q = gen.inception_quality(_images(4, 0), _images(4, 1), weights_path=junk, device=CPU)
    assert q["fid_inception"] is None and "not a safely loadable" in q["inception_reason"]
    wrong = no_download / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)  # loads safely, wrong network
    q = gen.inception_quality(_images(4, 0), _images(4, 1), weights_path=wrong, device=CPU)
    assert q["fid_inception"] is None and "failed" in q["inception_reason"]


@pytest.mark.slow
def test_inception_wiring_with_random_weights_in_torch_home(no_download, monkeypatch):
    # A randomly initialised Inception: a test of the wiring, never a reported figure.
    with monkeypatch.context() as m:
        m.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda *a: None)
        m.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: {})
        state = tf_inception.FeatureExtractorInceptionV3("x", ["2048"]).state_dict()
    path = gen.inception_weights_file()
    assert path.startswith(os.environ["TORCH_HOME"])
    os.makedirs(os.path.dirname(path))
    torch.save(state, path)
    # 3 + 3 tiny images: Inception resizes to 299 px and runs at a few images/s on a CPU.
    q = gen.inception_quality(_images(3, 0, size=8), _images(3, 1, 40, size=8), device=CPU)
    assert q["inception_reason"] is None and q["inception_weights"] == path
    assert math.isfinite(q["fid_inception"]) and q["fid_inception"] >= -1e-6
    assert q["isc_inception_mean"] >= 1.0 - 1e-9  # IS = exp(mean KL) >= 1 by construction
    assert q["inception_n_real"] == 3 and q["inception_n_synthetic"] == 3
