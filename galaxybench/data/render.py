"""Procedural galaxy rendering primitives: light profiles, a canvas, PSF, noise and asinh stretch.

Usage: ``c = Canvas(96); c.add(sersic(c, re=0.2, n=4, q=0.9, pa=0), 1e4, RED)``, then
``img = c.finish(rng, 64, psf=0.01, blob_sigma=0.02, sky=1.0)``.

Coordinates are in field units: the image spans [-1, 1] on both axes whatever its pixel size, so
a morphology looks the same at every resolution. Fluxes are totals (surface brightness integrates
to the flux over the plane), kept in three bands in the Galaxy10 order (g, r, z). Everything is
float32 numpy on one shared grid per canvas size: no per-pixel Python loops.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import gamma as gamma_fn

# Band weights (g, r, z) of a unit flux; images store R,G,B = z,r,g, so RED is z-heavy.
RED = np.array([0.45, 0.85, 1.35], dtype=np.float32)  # old stars: bulges, ellipticals
YELLOW = np.array([0.7, 1.0, 1.1], dtype=np.float32)  # mixed disk light
BLUE = np.array([1.35, 1.0, 0.65], dtype=np.float32)  # young stars: arms, clumps, tails

# Pixel values are surface brightness in flux per 128-px pixel, whatever the output size.
_SOFTENING = 0.6  # asinh softening: faint features stay visible
_WHITE = 40.0  # surface brightness mapped to 255 after the stretch
_NOISE = 1.0  # photon-noise scale: sigma = _NOISE * sqrt(signal + sky) at a native 256-px pixel


@lru_cache(maxsize=8)
def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x, y), each (n, n) float32, spanning (-1, 1)."""
    axis = (np.arange(n, dtype=np.float32) + 0.5) * (2.0 / n) - 1.0
    y, x = np.meshgrid(axis, axis, indexing="ij")
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


@lru_cache(maxsize=16)
def _resample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32 matrix: area-average when shrinking, linear interpolation when growing.

    Applied separably (rows then columns) it resizes an image; each row sums to 1, so flux per
    pixel (surface brightness) is preserved.
    """
    m = np.zeros((n_out, n_in), dtype=np.float64)
    if n_out <= n_in:  # area: output pixel o covers input interval [o, o+1) * n_in / n_out
        edges = np.arange(n_out + 1) * (n_in / n_out)
        for o in range(n_out):
            lo, hi = edges[o], edges[o + 1]
            for i in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
                m[o, i] = min(hi, i + 1) - max(lo, i)
    else:  # bilinear with half-pixel centres, clamped at the border (align_corners=False)
        pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        frac = pos - lo
        np.add.at(m, (np.arange(n_out), lo), 1 - frac)
        np.add.at(m, (np.arange(n_out), hi), frac)
    m /= m.sum(axis=1, keepdims=True)
    return m.astype(np.float32)


def _frame(canvas: Canvas, cx: float, cy: float, pa: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (u, v) along the major and minor axis of a component at (cx, cy), angle pa."""
    dx, dy = canvas.x - np.float32(cx), canvas.y - np.float32(cy)
    c, s = np.float32(np.cos(pa)), np.float32(np.sin(pa))
    return dx * c + dy * s, dy * c - dx * s


def _sersic_b(n: float) -> float:
    """b_n of the Sersic profile (Ciotti & Bertin 1999): re is then the half-light radius."""
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n * n)


def sersic(
    canvas: Canvas, *, re: float, n: float, q: float, pa: float, cx: float = 0.0, cy: float = 0.0
) -> np.ndarray:
    """Unit-flux Sersic surface brightness (n, n) per pixel; re in field units, q = b/a."""
    u, v = _frame(canvas, cx, cy, pa)
    # Soften the cusp by half a pixel: the PSF spreads it anyway, and it keeps r^(1/n) finite.
    r = np.sqrt(u * u + (v / np.float32(q)) ** 2 + np.float32(canvas.pixel / 2) ** 2)
    b = _sersic_b(n)
    profile = np.exp(np.float32(-b) * ((r / np.float32(re)) ** np.float32(1.0 / n) - 1))
    total = 2 * np.pi * n * re * re * q * np.exp(b) * b ** (-2 * n) * gamma_fn(2 * n)
    return profile * np.float32(canvas.pixel**2 / total)


def disk_plane(
    canvas: Canvas, *, incl: float, pa: float, cx: float = 0.0, cy: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Deprojected disk-plane radius R and azimuth theta for a disk inclined by incl (radians)."""
    u, v = _frame(canvas, cx, cy, pa)
    yd = v / np.float32(max(np.cos(incl), 0.05))
    return np.sqrt(u * u + yd * yd), np.arctan2(yd, u)


def exp_disk(
    canvas: Canvas, *, h: float, q: float, pa: float, cx: float = 0.0, cy: float = 0.0
) -> np.ndarray:
    """Unit-flux exponential disk (n, n) per pixel, scale length h, projected axis ratio q."""
    u, v = _frame(canvas, cx, cy, pa)
    r = np.sqrt(u * u + (v / np.float32(q)) ** 2)
    return np.exp(-r / np.float32(h)) * np.float32(canvas.pixel**2 / (2 * np.pi * h * h * q))


def spiral_modulation(
    radius: np.ndarray,
    theta: np.ndarray,
    *,
    arms: int,
    pitch: float,
    phase: float,
    sharpness: float,
    r_in: float,
) -> np.ndarray:
    """Mean-one multiplier of a logarithmic spiral pattern, faded inside r_in (bulge/bar zone).

    The arm crest follows theta = ln(R) / tan(pitch) + phase (+ 2 pi k / arms): small pitch angles
    (degrees in radians here) wind tightly, large ones are loose (Sa vs Sc, Hubble sequence).
    """
    wind = np.log(np.maximum(radius, 1e-3)) / np.float32(np.tan(pitch))
    wave = 0.5 * (1 + np.cos(np.float32(arms) * (theta - wind - np.float32(phase))))
    mod = wave ** np.float32(sharpness)
    mod /= np.float32(max(mod.mean(), 1e-6))
    fade = 1 - np.exp(-((radius / np.float32(r_in)) ** 2))
    return 1 + (mod - 1) * fade


def tidal_tail(
    canvas: Canvas,
    *,
    cx: float,
    cy: float,
    pa: float,
    incl: float,
    r0: float,
    length: float,
    pitch: float,
    phase: float,
    width: float,
) -> np.ndarray:
    """Unit-flux curved tidal tail: a one-armed log-spiral arc from r0 over `length` (field)."""
    radius, theta = disk_plane(canvas, incl=incl, pa=pa, cx=cx, cy=cy)
    wind = np.log(np.maximum(radius, 1e-3) / np.float32(r0)) / np.float32(np.tan(pitch))
    offset = (theta - wind - np.float32(phase) + np.float32(np.pi)) % np.float32(2 * np.pi) - np.pi
    along = (radius - np.float32(r0)) / np.float32(length)
    window = np.clip(along, 0, 1) * np.exp(-np.clip(along, 0, None) * 2.5)
    tail = window * np.exp(-0.5 * (offset / np.float32(width)) ** 2)
    return tail / np.float32(max(tail.sum(), 1e-6))


class Canvas:
    """Accumulates band fluxes (n, n, 3) and point-like blobs before PSF, noise and stretch.

    Args:
        n: model grid size in pixels (at most 128 is rendered; larger outputs are resampled).
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.pixel = 2.0 / n  # pixel side in field units
        self.x, self.y = _grid(n)
        self.flux = np.zeros((n, n, 3), dtype=np.float32)
        self.blobs = np.zeros((n, n, 3), dtype=np.float32)  # star-forming knots, pre-blur

    def add(self, profile: np.ndarray, flux: float, colour: np.ndarray) -> None:
        """Add a unit-flux profile scaled to `flux` with band weights `colour` (g, r, z)."""
        self.flux += profile[:, :, None] * (np.float32(flux) * colour)

    def add_points(
        self,
        xs: np.ndarray,
        ys: np.ndarray,
        fluxes: np.ndarray,
        colour: np.ndarray,
        *,
        knots: bool = True,
    ) -> None:
        """Deposit point fluxes at field positions (xs, ys).

        Knots (star-forming clumps) are blurred to their intrinsic size plus the PSF by `finish`;
        otherwise (foreground stars) they take the shape of the PSF alone.
        """
        col = np.clip(((xs + 1) / self.pixel).astype(int), 0, self.n - 1)
        row = np.clip(((ys + 1) / self.pixel).astype(int), 0, self.n - 1)
        target = self.blobs if knots else self.flux
        np.add.at(target, (row, col), fluxes[:, None].astype(np.float32) * colour)

    def attenuate(self, optical_depth: np.ndarray, band_ratio: np.ndarray) -> None:
        """Dim the light by exp(-tau * ratio) per band (dust lanes redden: g suffers most)."""
        self.flux *= np.exp(-optical_depth[:, :, None] * band_ratio)

    def finish(
        self,
        rng: np.random.Generator,
        size: int,
        *,
        psf: float,
        blob_sigma: float,
        sky: float,
        noise: float = 1.0,
        pedestal: float = 0.0,
    ) -> np.ndarray:
        """PSF-blur, resample to `size`, add sky photon noise, asinh-stretch: (size, size, 3) uint8.

        Args:
            rng: noise source.
            size: output side in pixels.
            psf: Gaussian PSF sigma in field units.
            blob_sigma: intrinsic knot size (sigma, field units), added in quadrature to the PSF.
            sky: sky level in flux per output pixel; noise is Gaussian with Poisson variance.
            noise: multiplier of the noise sigma (1.0: the embedded set; the rehearsal file raises
                it so its gzip ratio matches the real Galaxy10 DECaLS file).
            pedestal: residual sky level left in the image (flux per 128-px pixel) before the
                stretch; with 0 about 40% of sky pixels clip to 0, a pedestal keeps the sky noise.
        """
        sig_px = psf / self.pixel
        img = gaussian_filter(self.flux, sigma=(sig_px, sig_px, 0), mode="constant", truncate=3.0)
        knot_px = np.hypot(psf, blob_sigma) / self.pixel
        img += gaussian_filter(
            self.blobs, sigma=(knot_px, knot_px, 0), mode="constant", truncate=3.0
        )
        if size != self.n:
            m = _resample_matrix(self.n, size)
            img = np.einsum("ij,jkc,lk->ilc", m, img, m, optimize=True)
        img *= np.float32((self.n / 128) ** 2)  # -> flux per 128-px pixel at any grid size
        # Photon noise of a 256-px exposure, averaged down to the output pixel (sigma ~ size/256).
        scale = np.float32(_NOISE * noise * size / 256)
        sigma = np.sqrt(np.maximum(img, 0) + np.float32(sky)) * scale
        img += rng.standard_normal(img.shape, dtype=np.float32) * sigma
        if pedestal:
            img += np.float32(pedestal)
        out = np.arcsinh(img / _SOFTENING) * np.float32(255 / np.arcsinh(_WHITE / _SOFTENING))
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
