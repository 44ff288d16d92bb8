"""Super-resolution quality: PSNR and SSIM of upscaled images against true HR (docs/protocol.md).

Both metrics compare uint8 (n, 3, H, W) arrays with a data range of 255 and average per-image
values over the images. SSIM follows Wang et al. 2004 (Gaussian window 11x11, sigma 1.5, K1 0.01,
K2 0.03, population covariances, per channel, mean over the valid region), which is what
``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255, channel_axis=0)`` computes.

Usage::

    q = sr_quality(test.lr, test.hr, srgan_hr_or_None, device=device)
    q["psnr_srgan"], q["psnr_bicubic"], q["ssim_srgan"], q["ssim_bicubic"], q["sr_n"]
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from galaxybench.images import bicubic_x2, check_images
from galaxybench.results import PSNR_BICUBIC, PSNR_SRGAN, SSIM_BICUBIC, SSIM_SRGAN

SR_N = "sr_n"  # number of test images behind the SR metrics
SSIM_WINDOW = 11  # Wang et al. 2004, section III-C
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
# Images per SSIM convolution chunk (float64 working set ~ 5 x chunk x 3 x H x W x 8 bytes).
_SSIM_CHUNK = 64


def _check_pair(pred: np.ndarray, true: np.ndarray) -> None:
    """ValueError unless both are uint8 (n, c, H, W) arrays of one shape with n >= 1."""
    check_images(pred, "pred", channels=None)
    check_images(true, "true", channels=None)
    if pred.shape != true.shape or pred.shape[0] == 0:
        raise ValueError(
            f"pred and true must have one non-empty shape, got {pred.shape} and {true.shape}"
        )


def psnr(pred: np.ndarray, true: np.ndarray, data_range: float = 255.0) -> float:
    """Mean over images of per-image PSNR, 10 log10(data_range^2 / MSE), in dB.

    MSE is taken over all channels and pixels of an image, in float64. An image identical to its
    reference (MSE 0) would score +inf and make the mean infinite; its MSE is floored at half of
    the smallest non-zero MSE a uint8 pair can have (one value off by one level), so it scores a
    finite value above any imperfect image of that size (86.0 dB at 3 x 32 x 32).
    """
    _check_pair(pred, true)
    diff = pred.reshape(len(pred), -1).astype(np.float64) - true.reshape(len(true), -1)
    mse = np.mean(diff * diff, axis=1)  # (n,) in levels^2
    floor = 0.5 / diff.shape[1]
    return float(np.mean(10.0 * np.log10(data_range**2 / np.maximum(mse, floor))))


def _gaussian_window(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    """(size,) float64 normalised 1-D Gaussian (scipy.ndimage's kernel, truncated).

    The 2-D window is its outer product; filtering is done separably (rows, then columns), which
    is the same filter but needs 1/size of the memory of a 2-D conv2d's unfolded input.
    """
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def _ssim_per_image(
    x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, data_range: float
) -> torch.Tensor:
    """(B, C, H, W) float64 pair -> (B,) SSIM, mean over channels and the valid region."""
    b, c, h, w = x.shape
    # Channels become batch entries so one depthwise-free conv2d handles every channel.
    x, y = x.reshape(b * c, 1, h, w), y.reshape(b * c, 1, h, w)
    stack = torch.cat([x, y, x * x, y * y, x * y])  # (5BC, 1, H, W)
    size = window.shape[0]
    blurred = F.conv2d(F.conv2d(stack, window.view(1, 1, size, 1)), window.view(1, 1, 1, size))
    mu_x, mu_y, xx, yy, xy = blurred.chunk(5)  # valid region only
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    ssim_map = (
        (2 * mu_x * mu_y + c1)
        * (2 * cov + c2)
        / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    )
    return ssim_map.reshape(b, c, -1).mean(dim=(1, 2))


def ssim(
    pred: np.ndarray,
    true: np.ndarray,
    *,
    data_range: float = 255.0,
    device: torch.device | None = None,
) -> float:
    """Mean over images of SSIM (Wang et al. 2004), averaged over channels; 1.0 when identical.

    Computed in float64 with ``torch.nn.functional.conv2d`` on ``device`` (CPU by default), in
    chunks. The 11-pixel window shrinks to the largest odd size that fits images smaller than
    11 px (skimage would refuse them); sigma stays 1.5.
    """
    _check_pair(pred, true)
    device = device or torch.device("cpu")
    side = min(pred.shape[-2:])
    size = min(SSIM_WINDOW, side if side % 2 else side - 1)
    if size < 1:
        raise ValueError(f"images of {pred.shape[-2:]} px are too small for SSIM")
    window = _gaussian_window(size, SSIM_SIGMA, device)
    total = 0.0
    for start in range(0, len(pred), _SSIM_CHUNK):
        x = torch.from_numpy(pred[start : start + _SSIM_CHUNK]).to(device, torch.float64)
        y = torch.from_numpy(true[start : start + _SSIM_CHUNK]).to(device, torch.float64)
        total += float(_ssim_per_image(x, y, window, data_range).sum())
    return total / len(pred)


def sr_quality(
    lr: np.ndarray, hr_true: np.ndarray, upscaled_srgan: np.ndarray | None, *, device: torch.device
) -> dict[str, float | int | None]:
    """PSNR/SSIM of SRGAN and of bicubic against true HR, side by side (docs/protocol.md).

    Args:
        lr: (n, 3, h, h) uint8 test LR images.
        hr_true: (n, 3, 2h, 2h) uint8 true HR images.
        upscaled_srgan: SRGAN output for ``lr``, or None when the trial has no SRGAN (its keys
            are then None).
        device: where bicubic interpolation and SSIM run.

    Returns:
        ``psnr_srgan``, ``psnr_bicubic`` (dB), ``ssim_srgan``, ``ssim_bicubic``, ``sr_n``.
    """
    bicubic = bicubic_x2(lr, device)
    out: dict[str, float | int | None] = {
        PSNR_BICUBIC: psnr(bicubic, hr_true),
        SSIM_BICUBIC: ssim(bicubic, hr_true, device=device),
        PSNR_SRGAN: None,
        SSIM_SRGAN: None,
        SR_N: len(hr_true),
    }
    if upscaled_srgan is not None:
        out[PSNR_SRGAN] = psnr(upscaled_srgan, hr_true)
        out[SSIM_SRGAN] = ssim(upscaled_srgan, hr_true, device=device)
    return out
