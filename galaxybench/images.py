"""Image arrays as every layer sees them: validation, uint8 <-> float on a device, bicubic x2.

Images are uint8, channels first, (n, 3, h, w), from the data layer to the report; float conversion
happens on the trial's device, so batches move as uint8 (4x less memory traffic than float32).

Usage::

    check_images(x, "train LR")                  # ValueError (or ``error``) naming what is wrong
    t = to_float(x_uint8, device)                # (B, 3, H, W) float32 in [-1, 1] on device
    hr = bicubic_x2(lr_uint8, device)            # (n, 3, 2h, 2w) uint8
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

# Images per interpolation call: bounds the float32 working set on the device.
_BATCH = 512


def check_images(
    images: Any, what: str, *, channels: int | None = 3, error: type[Exception] = ValueError
) -> None:
    """Raise ``error`` unless ``images`` is a (n, C, H, W) uint8 numpy array (C = ``channels``).

    Args:
        what: names the array in the message ("upscaler input", "synthetic images", ...).
        channels: the required channel count, or None for any.
        error: the exception type (InputError where a user's data is at fault).
    """
    ok = (
        isinstance(images, np.ndarray)
        and images.dtype == np.uint8
        and images.ndim == 4
        and (channels is None or images.shape[1] == channels)
    )
    if not ok:
        dtype = getattr(images, "dtype", type(images).__name__)
        layout = f"(n, {channels}, H, W)" if channels is not None else "(n, C, H, W)"
        raise error(
            f"{what} must be {layout} uint8 images, got {dtype} {getattr(images, 'shape', None)}"
        )


def check_labels(
    labels: np.ndarray,
    n: int,
    what: str,
    *,
    num_classes: int | None = None,
    error: type[Exception] = ValueError,
) -> None:
    """Raise ``error`` unless there are ``n`` labels, each in 0..num_classes-1 when given."""
    if len(labels) != n:
        raise error(f"{what}: {len(labels)} labels for {n} images")
    if (
        num_classes is not None
        and len(labels)
        and (labels.min() < 0 or labels.max() >= num_classes)
    ):
        raise error(f"{what}: labels outside 0..{num_classes - 1}")


def to_tensor_uint8(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """(n, 3, h, w) uint8 numpy -> uint8 tensor on device.

    Copied: arrays from Ray's object store are read-only.
    """
    return torch.from_numpy(np.ascontiguousarray(images)).to(device)


def to_float(images: torch.Tensor | np.ndarray, device: torch.device | None = None) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float32 in [-1, 1] on device (conversion happens on the device)."""
    if isinstance(images, np.ndarray):
        images = to_tensor_uint8(images, device or torch.device("cpu"))
    elif device is not None:
        images = images.to(device)
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] (B, 3, H, W) -> uint8, rounded and clamped."""
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def bicubic_x2(lr: np.ndarray, device: torch.device) -> np.ndarray:
    """Bicubic x2 of (n, 3, h, w) uint8 -> (n, 3, 2h, 2w) uint8, rounded and clamped to 0..255.

    ``F.interpolate(mode="bicubic", align_corners=False)`` (Keys' cubic, a = -0.75, as OpenCV);
    the cubic kernel overshoots at edges, hence the clamp.
    """
    check_images(lr, "upscaler input")
    n, _, h, w = lr.shape
    out = np.empty((n, 3, 2 * h, 2 * w), dtype=np.uint8)
    for start in range(0, n, _BATCH):
        x = to_tensor_uint8(lr[start : start + _BATCH], device).float()  # (B, 3, h, w) in 0..255
        y = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        out[start : start + _BATCH] = y.clamp_(0, 255).round_().to(torch.uint8).cpu().numpy()
    return out
