"""Fused cGAN fits (``cgan_train_to_fused``) equal K unfused ``train_to`` runs, to float tolerance.

Tiny on purpose: LR 8 px, 3 classes x 12 images, width 8, batch 8, 2 epochs (about a second).

Tolerances, measured on a CPU (one thread) over 30 members (10 seed triples, K = 3; K = 1 is no
closer: a batched convolution adds in another order whatever K). Generator outputs in eval mode
differ by <= 2.3e-5 with the training running statistics and <= 1.2e-3 after the BatchNorm
recalibration (median 3e-5); one more unfused epoch from the fused checkpoint vs from the
unfused one <= 3.2e-3. Weights: D <= 3e-5, G <= 4.1e-4 (a few elements, two Adam steps of lr
2e-4): D's per-class minibatch std is ``sqrt(E[x^2] - E[x]^2 + 1e-8)``, whose cancellation noise
(a class seen once in a batch has variance ~0) is amplified ~5000x in its gradient, and Adam's
first steps turn such noise into +-lr. Hence weights are also compared as training updates
(``w - w_init``), normwise: <= 2.7e-2 relative (Adam moments <= 1.8e-2). Loss history <= 3e-6.
The limits below leave a margin of 2.5-10x; another seed differs by 0.6 in the outputs and by
~1 relative in the updates (checked, so the comparisons can fail).

Usage: ``pytest tests/test_cgan_fused.py``
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from galaxybench.config import CganConfig, Config
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import TrialDiverged
from galaxybench.stages import rebalance_cgan, rebalance_cgan_fused
from galaxybench.stages.rebalance_cgan import CganRebalancer
from galaxybench.stages.rebalance_cgan_fused import cgan_train_to_fused
from galaxybench.stages.rebalance_cgan_nets import Discriminator, Generator, unpack_weights

CPU = torch.device("cpu")
CLASSES = [0, 1, 2]
EPOCHS = 2
LR = 2.0e-4
CFG = Config(cgan=CganConfig(epochs=EPOCHS, batch_size=8, latent_dim=8, width=8, lr=LR))
TRAINED_ATOL = 2e-4  # eval-mode outputs (images in [-1, 1]) with the training statistics
OUTPUT_ATOL = 5e-3  # eval-mode outputs of the recalibrated generator (``weights``)
CONTINUED_ATOL = 1e-2  # the same after one more unfused epoch (a GAN amplifies differences)
# Outputs also relative to how far training moved them: ||fused - unfused|| / ||unfused -
# initial|| (a 2-epoch generator is still close to its initialisation, so the absolute limits
# alone could not tell other training data from float noise).
TRAINED_RTOL = 0.02
OUTPUT_RTOL = 0.03  # recalibrated and continued
WEIGHT_ATOL = 5 * LR  # any weight element with a gradient
UPDATE_RTOL = 0.1  # ||fused update - unfused update|| / ||unfused update||, per tensor
MOMENT_RTOL = 0.1  # Adam moments, the same normwise relative difference
HISTORY_ATOL = 1e-5  # mean losses ~0.6-1.4
# A bias feeding BatchNorm has a true gradient of 0 (BatchNorm subtracts it): its value is Adam's
# answer to rounding noise, and does not change what the generator computes (fused.py).
NO_GRADIENT = {"dense.bias"}


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny tensors: one thread is faster, and avoids spin-waiting on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _split(seed: int, per_class: tuple[int, ...] = (12, 12, 12), side: int = 8) -> SplitArrays:
    """Random LR images, labels interleaved (class counts ``per_class``)."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(n, c, np.int64) for c, n in enumerate(per_class)])
    labels = rng.permutation(labels)
    n = len(labels)
    lr = rng.integers(0, 256, (n, 3, side, side), dtype=np.uint8)
    return SplitArrays(lr, np.zeros((n, 3, 2 * side, 2 * side), np.uint8), labels, np.arange(n))


def _unfused(train: SplitArrays, seed: int, state: dict | None = None, epochs: int = EPOCHS):
    return CganRebalancer().train_to(CFG, train, CLASSES, state, epochs, seed=seed, device=CPU)


def _round_trip(state: dict[str, Any]) -> dict[str, Any]:
    """Through torch.save/load(weights_only=True), as the stage cache stores checkpoints."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _outputs(gen: Generator) -> torch.Tensor:
    """The eval-mode generator on fixed z and labels."""
    z = torch.randn(24, CFG.cgan.latent_dim, generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        return gen.eval()(z, torch.arange(24) % len(CLASSES))


def _parameter_names(net: str) -> list[str]:
    """The parameter names of ``gen`` or ``disc`` in the order an optimizer state indexes them."""
    model = (
        Generator(len(CLASSES), CFG.cgan.latent_dim, CFG.cgan.width, 8)
        if net == "gen"
        else Discriminator(len(CLASSES), CFG.cgan.width, 8)
    )
    return [n for n, _ in model.named_parameters()]


def _initial(train: SplitArrays, seed: int) -> dict:
    """The epoch-0 checkpoint: the weights training starts from."""
    return CganRebalancer().train_to(
        CFG, train, CLASSES, None, 0, seed=seed, device=CPU, check_collapse=False
    )


def _trained_gen(state: dict) -> Generator:
    """The checkpoint's training-state generator (running statistics before recalibration)."""
    gen = Generator(len(CLASSES), CFG.cgan.latent_dim, CFG.cgan.width, 8)
    gen.load_state_dict(state["gen"])
    return gen


def _same_format(a: Any, b: Any, where: str = "") -> None:
    """The same keys, types, tensor dtypes and shapes (recursively); other leaves equal except
    floats (losses)."""
    assert type(a) is type(b), where
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.device == b.device, where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same_format(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_format(x, y, f"{where}[{i}]")
    elif not isinstance(a, float):
        assert a == b, where


def _relative(a: torch.Tensor, b: torch.Tensor, origin: torch.Tensor | float = 0.0) -> float:
    """||a - b|| / ||b - origin||."""
    return ((a - b).norm() / (b - origin).norm().clamp(min=1e-30)).item()


def _assert_outputs_match(fused: dict, ref: dict, init: dict, atol: float = OUTPUT_ATOL) -> None:
    """Eval-mode outputs of the recalibrated generators (and of the training-state ones, unless
    continued: ``atol`` is then CONTINUED_ATOL), absolutely and relative to training's change."""
    recal = [_outputs(unpack_weights(s["weights"])[0]) for s in (fused, ref, init)]
    torch.testing.assert_close(recal[0], recal[1], rtol=0, atol=atol)
    moved = _relative(*recal)
    assert moved <= OUTPUT_RTOL, f"recalibrated outputs differ by {moved:.3g} of training's change"
    if atol == CONTINUED_ATOL:
        return
    trained = [_outputs(_trained_gen(s)) for s in (fused, ref, init)]
    torch.testing.assert_close(trained[0], trained[1], rtol=0, atol=TRAINED_ATOL)
    moved = _relative(*trained)
    assert moved <= TRAINED_RTOL, f"trained outputs differ by {moved:.3g} of training's change"


def _assert_member_matches(fused: dict, ref: dict, init: dict) -> None:
    """One fused member's checkpoint against its unfused run (``init``: its epoch-0 checkpoint),
    within the tolerances above."""
    _same_format(fused, ref)
    _assert_outputs_match(fused, ref, init)
    for net in ("gen", "disc"):
        for name, value in ref[net].items():
            if name in NO_GRADIENT or not value.is_floating_point():
                continue
            torch.testing.assert_close(
                fused[net][name], value, rtol=0, atol=WEIGHT_ATOL, msg=f"{net}.{name}"
            )
            if "running_" not in name:
                update = _relative(fused[net][name], value, init[net][name])
                assert update <= UPDATE_RTOL, f"{net}.{name}: update differs by {update:.3g}"
    np.testing.assert_allclose(fused["history"], ref["history"], rtol=0, atol=HISTORY_ATOL)
    for opt, net in (("opt_g", "gen"), ("opt_d", "disc")):
        assert fused[opt]["param_groups"] == ref[opt]["param_groups"]
        names = _parameter_names(net)
        for i, per_param in ref[opt]["state"].items():
            assert torch.equal(fused[opt]["state"][i]["step"], per_param["step"])
            if names[i] in NO_GRADIENT:
                continue
            for key in ("exp_avg", "exp_avg_sq"):
                moment = _relative(fused[opt]["state"][i][key], per_param[key])
                assert moment <= MOMENT_RTOL, f"{opt} {names[i]} {key}: {moment:.3g}"
    for stream in ("shuffle", "noise"):
        assert torch.equal(fused[stream], ref[stream]), stream
    assert fused["epochs"] == ref["epochs"] == EPOCHS
    assert fused["collapse_checked"] is ref["collapse_checked"] is True
    meta = {k: v for k, v in ref["weights"].items() if k.startswith("meta.")}
    assert all(torch.equal(fused["weights"][k], v) for k, v in meta.items())


@pytest.mark.parametrize("k", [1, 3])
def test_each_member_equals_its_unfused_run_and_continues_unfused(k):
    trains = [_split(seed) for seed in range(k)]
    seeds = [7 + 10 * i for i in range(k)]
    fused = cgan_train_to_fused(CFG, trains, CLASSES, seeds, EPOCHS, device=CPU)
    assert len(fused) == k
    refs = [_unfused(train, seed) for train, seed in zip(trains, seeds, strict=True)]
    for state, ref, train, seed in zip(fused, refs, trains, seeds, strict=True):
        assert isinstance(state, dict)
        _assert_member_matches(state, ref, _initial(train, seed))
    # The comparisons can fail: the same seed (same initial weights) on other images of the
    # same classes is far beyond the tolerances.
    init = _initial(trains[0], seeds[0])
    other = _unfused(_split(99), seeds[0])
    with pytest.raises(AssertionError):
        _assert_outputs_match(other, refs[0], init)
    moved = _relative(*(_outputs(unpack_weights(s["weights"])[0]) for s in (other, refs[0], init)))
    assert moved > 3 * OUTPUT_RTOL
    dense = [s["gen"]["dense.weight"] for s in (other, refs[0], init)]
    assert _relative(*dense) > 3 * UPDATE_RTOL
    # A fused checkpoint (through the cache's save/load) continues unfused like an unfused one.
    last = k - 1
    continued = _unfused(trains[last], seeds[last], _round_trip(fused[last]), EPOCHS + 1)
    straight = _unfused(trains[last], seeds[last], None, EPOCHS + 1)
    assert len(continued["history"]) == EPOCHS + 1
    _assert_outputs_match(
        continued, straight, _initial(trains[last], seeds[last]), atol=CONTINUED_ATOL
    )
    np.testing.assert_allclose(continued["history"], straight["history"], rtol=0, atol=HISTORY_ATOL)
    for stream in ("shuffle", "noise"):
        assert torch.equal(continued[stream], straight[stream]), stream


def test_unequal_class_sizes_are_refused():
    trains = [_split(0), _split(1, per_class=(13, 11, 12))]
    with pytest.raises(ValueError, match="equal training sizes per class"):
        cgan_train_to_fused(CFG, trains, CLASSES, [1, 2], EPOCHS, device=CPU)
    with pytest.raises(ValueError, match="2 training splits for 1 seeds"):
        cgan_train_to_fused(CFG, [_split(0), _split(1)], CLASSES, [1], EPOCHS, device=CPU)


BAD_SEED = 17
_REAL_WON = rebalance_cgan.discriminator_won
_REAL_COLLAPSE = rebalance_cgan.check_mode_collapse


class _Doomed(list):
    """A loss history marked for a forced 'discriminator won'."""


def _poisoned_training(kind: str):
    """``_Training`` whose run for BAD_SEED diverges in the way ``kind`` (unfused and fused)."""

    class Poisoned(rebalance_cgan._Training):
        def __init__(self, cfg, num_classes, side, *, seed, device):
            super().__init__(cfg, num_classes, side, seed=seed, device=device)
            if seed != BAD_SEED:
                return
            if kind == "nan":
                with torch.no_grad():
                    self.disc.head.weight[0, 0] = float("nan")
            elif kind == "won":
                self.history = _Doomed()

    return Poisoned


def _won(history):
    if isinstance(history, _Doomed):
        return "forced for the test"
    return _REAL_WON(history)


def _collapse(gen, images, labels, class_ids, latent_dim, *, seed, device):
    if seed == BAD_SEED + 3:  # train_to checks collapse with seed + 3
        raise TrialDiverged("cgan", "mode collapse forced for the test")
    _REAL_COLLAPSE(gen, images, labels, class_ids, latent_dim, seed=seed, device=device)


@pytest.mark.parametrize("kind", ["nan", "won", "collapse"])
def test_a_diverged_member_gets_the_unfused_error_and_the_others_go_on(monkeypatch, kind):
    poisoned = _poisoned_training(kind)
    for module in (rebalance_cgan, rebalance_cgan_fused):
        monkeypatch.setattr(module, "_Training", poisoned)
    for module in (rebalance_cgan, rebalance_cgan_fused):
        monkeypatch.setattr(module, "discriminator_won", _won)
        monkeypatch.setattr(module, "check_mode_collapse", _collapse)
    trains = [_split(seed) for seed in range(3)]
    seeds = [7, BAD_SEED, 27]
    fused = cgan_train_to_fused(CFG, trains, CLASSES, seeds, EPOCHS, device=CPU)
    assert isinstance(fused[1], TrialDiverged)
    with pytest.raises(TrialDiverged) as unfused:
        _unfused(trains[1], BAD_SEED)
    assert str(fused[1]) == str(unfused.value) and fused[1].stage == "cgan"
    expected = {"nan": "non-finite loss (nan)", "won": "forced for the test at epoch 1"}
    assert fused[1].reason == expected.get(kind, "mode collapse forced for the test")
    for i in (0, 2):
        assert isinstance(fused[i], dict)
        _assert_member_matches(
            fused[i], _unfused(trains[i], seeds[i]), _initial(trains[i], seeds[i])
        )
