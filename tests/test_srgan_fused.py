"""Fused SRGAN training (``srgan_train_to_fused``) against K unfused ``train_to`` runs, on a CPU.

Tolerances, measured at this size (lr 1e-4, 3 positions): train-mode generator outputs (batch
statistics) agree to ~1e-6 and the weights that have a gradient to ~3e-5; eval-mode outputs to
~3e-4, because conv biases feeding BatchNorm get rounding-noise gradients (``stages.fused``) and
the running means follow those biases with a lag. The tolerances below sit a few times above that.

Usage: ``pytest tests/test_srgan_fused.py``
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from conftest import lr_hr_pairs
from torch import nn

from galaxybench.config import Config, SrganConfig
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import TrialDiverged
from galaxybench.stages import upscale_srgan, upscale_srgan_fused
from galaxybench.stages.upscale_srgan import SrganUpscaler
from galaxybench.stages.upscale_srgan_fused import srgan_train_to_fused
from galaxybench.stages.upscale_srgan_nets import build_discriminator, build_generator

CPU = torch.device("cpu")
CFG = Config(
    srgan=SrganConfig(depth=1, channels=8, pretrain_epochs=1, epochs=2, batch_size=8, lr=1.0e-4)
)
EPOCHS = 3  # 1 pretrain + 2 adversarial positions
SEEDS = (7, 8, 9)
EVAL_ATOL = 2e-3  # eval-mode outputs, [-1, 1] units (a quarter of a uint8 level)
TRAIN_ATOL = 1e-4  # train-mode outputs
WEIGHT_ATOL = 5e-4  # weights with a gradient, and BatchNorm running variances


def _trains(n: int = 32) -> list[SplitArrays]:
    return [lr_hr_pairs(n, 16, seed=10 + k) for k in range(len(SEEDS))]


def _unfused(train: SplitArrays, seed: int, epochs: int = EPOCHS, state=None) -> dict:
    return SrganUpscaler().train_to(CFG, train, state, epochs, seed=seed, device=CPU)


@pytest.fixture(scope="module")
def trains() -> list[SplitArrays]:
    return _trains()


@pytest.fixture(scope="module")
def unfused(trains) -> list[dict]:
    return [_unfused(t, s) for t, s in zip(trains, SEEDS, strict=True)]


def _noise_keys(model: nn.Module) -> set[str]:
    """Conv biases that feed a BatchNorm, and that BatchNorm's running mean (which tracks the
    bias): their values are rounding noise, not something the network computes with."""
    keys: set[str] = set()
    for name, seq in model.named_modules():
        if not isinstance(seq, nn.Sequential):
            continue
        kids = list(seq.named_children())
        for (a, conv), (b, bn) in itertools.pairwise(kids):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                prefix = f"{name}." if name else ""
                keys |= {f"{prefix}{a}.bias", f"{prefix}{b}.running_mean"}
    return keys


def _outputs(state: dict, train_mode: bool) -> torch.Tensor:
    """The checkpoint's generator on held-out LR images (train mode: batch statistics)."""
    gen = build_generator(CFG.srgan)
    gen.load_state_dict(state["gen"])
    gen.train(train_mode)
    held = torch.from_numpy(lr_hr_pairs(16, 16, seed=99).lr).float() / 127.5 - 1
    with torch.no_grad():
        return gen(held)


def _assert_matches(fused: dict, ref: dict) -> None:
    """``fused`` is ``ref``'s checkpoint in format, and in value to float tolerance."""
    assert fused.keys() == ref.keys()
    assert fused["epochs"] == ref["epochs"]
    assert torch.equal(fused["rng"], ref["rng"])  # same shuffles drawn, same count
    for train_mode, atol in ((True, TRAIN_ATOL), (False, EVAL_ATOL)):
        torch.testing.assert_close(
            _outputs(fused, train_mode), _outputs(ref, train_mode), rtol=0, atol=atol
        )
    nets = {"gen": build_generator(CFG.srgan), "disc": build_discriminator(CFG.srgan, 16)}
    for net, model in nets.items():
        assert list(fused[net]) == list(ref[net])
        noise = _noise_keys(model)
        assert noise  # the filter found the BatchNorm-fed biases
        for key, value in ref[net].items():
            got = fused[net][key]
            assert got.shape == value.shape and got.dtype == value.dtype, key
            if key not in noise:
                torch.testing.assert_close(got, value, rtol=0, atol=WEIGHT_ATOL, msg=key)
    for opt in ("opt_g", "opt_d"):
        assert fused[opt]["param_groups"] == ref[opt]["param_groups"]
        assert fused[opt]["state"].keys() == ref[opt]["state"].keys()
        for i, per_param in ref[opt]["state"].items():
            assert fused[opt]["state"][i].keys() == per_param.keys()
            for name, value in per_param.items():
                assert fused[opt]["state"][i][name].shape == value.shape, (opt, i, name)
            assert torch.equal(fused[opt]["state"][i]["step"], per_param["step"])
    assert fused["history"].keys() == ref["history"].keys()
    for key, values in ref["history"].items():
        assert len(fused["history"][key]) == len(values), key
        np.testing.assert_allclose(fused["history"][key], values, rtol=1e-3, atol=1e-5)


def test_one_member_matches_unfused(trains, unfused):
    (state,) = srgan_train_to_fused(CFG, trains[:1], SEEDS[:1], EPOCHS, device=CPU)
    _assert_matches(state, unfused[0])


def test_three_members_match_their_unfused_runs(trains, unfused):
    states = srgan_train_to_fused(CFG, trains, SEEDS, EPOCHS, device=CPU)
    assert len(states) == len(SEEDS)
    for state, ref in zip(states, unfused, strict=True):
        _assert_matches(state, ref)
    # The members differ from each other (the comparison can fail).
    assert not torch.allclose(_outputs(states[0], True), _outputs(states[1], True), atol=1e-2)


def test_fused_checkpoint_continues_unfused(trains):
    states = srgan_train_to_fused(CFG, trains, SEEDS, EPOCHS - 1, device=CPU)
    for state, train, seed in zip(states, trains, SEEDS, strict=True):
        _assert_matches(state, _unfused(train, seed, EPOCHS - 1))
        _assert_matches(_unfused(train, seed, EPOCHS, state), _unfused(train, seed, EPOCHS))


def test_unequal_sizes_are_refused(trains):
    with pytest.raises(ValueError, match="equal training sizes"):
        srgan_train_to_fused(CFG, [trains[0], lr_hr_pairs(24, 16)], SEEDS[:2], 1, device=CPU)


def test_diverged_member_leaves_and_the_others_go_on(trains, unfused, monkeypatch):
    # The discriminator built under seed 8 has a NaN weight: its member trains the pretrain
    # epoch, then its first adversarial step's loss is NaN (fused and unfused alike).
    def poisoned(cfg, hr_size):
        disc = build_discriminator(cfg, hr_size)
        if torch.initial_seed() == SEEDS[1]:  # seed_everything ran just before
            with torch.no_grad():
                next(disc.parameters()).view(-1)[0] = float("nan")
        return disc

    monkeypatch.setattr(upscale_srgan, "build_discriminator", poisoned)
    monkeypatch.setattr(upscale_srgan_fused, "build_discriminator", poisoned)
    with pytest.raises(TrialDiverged) as unfused_error:
        _unfused(trains[1], SEEDS[1])
    states = srgan_train_to_fused(CFG, trains, SEEDS, EPOCHS, device=CPU)
    assert isinstance(states[1], TrialDiverged)
    assert states[1].stage == "srgan" and str(states[1]) == str(unfused_error.value)
    _assert_matches(states[0], unfused[0])
    _assert_matches(states[2], unfused[2])
