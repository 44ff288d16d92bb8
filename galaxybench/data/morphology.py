"""Class-conditional galaxy morphologies for the synthetic Galaxy10 set.

Usage: ``img, z, pxscale = render_galaxy(np.random.default_rng(0), label=5, size=64)``.

Each Galaxy10 DECaLS class is a distribution over physical parameters, and neighbouring classes
overlap on purpose where human classifiers disagree (Walmsley et al. 2022, Galaxy Zoo DECaLS):
barred vs unbarred and tight vs loose spirals share a band of bar strength and pitch angle, round
vs in-between smooth share axis ratios 0.72-0.82, disturbed vs merging share their systems (a
lopsided clumpy remnant or two galaxies with tails, 70/30 and 30/70), edge-on with vs without
bulge share bulge fractions 0.05-0.2.

Where real Galaxy10 morphologies keep class evidence at a few pixels' scale, so do these: a
disturbed post-merger remnant carries shells/ripples and a bulgeless edge-on disk a chain of
star-forming knots, both with a spacing of 2.2-2.6 px at 32 px (4.4-5.2 px in the 64-px embedded
render; fixed in field units like every morphology). The structure moves light without adding
any, so the 2x2 area average that makes a 16-px LR image keeps little of it: true HR images tell
these classes from their neighbours, bicubic upscales of LR mostly cannot (the benchmark's oracle
upscaler control, ``bench/oracle_controls.py``).
"""

from __future__ import annotations

import numpy as np

from galaxybench.data.render import (
    BLUE,
    RED,
    YELLOW,
    Canvas,
    disk_plane,
    exp_disk,
    sersic,
    spiral_modulation,
    tidal_tail,
)

MODEL_MAX = 128  # largest grid rendered; larger outputs are resampled from it (smooth light)
_MODEL_MIN = 48  # smaller outputs are rendered at a multiple and area-averaged (no aliasing)


def _tint(rng: np.random.Generator, colour: np.ndarray) -> np.ndarray:
    """Per-galaxy colour scatter of about 10% per band."""
    return colour * rng.lognormal(0.0, 0.1, 3).astype(np.float32)


def _to_sky(r: np.ndarray, th: np.ndarray, incl: float, pa: float, cx: float, cy: float):
    """Disk-plane polar positions -> field (x, y) for a disk inclined by incl at angle pa."""
    u, v = r * np.cos(th), r * np.sin(th) * np.cos(incl)
    return cx + u * np.cos(pa) - v * np.sin(pa), cy + u * np.sin(pa) + v * np.cos(pa)


def _clumps(
    c: Canvas,
    rng: np.random.Generator,
    flux: float,
    count: int,
    h: float,
    incl: float,
    pa: float,
    cx: float = 0.0,
    cy: float = 0.0,
) -> None:
    """Scatter `count` blue star-forming knots over an exponential disk (radii ~ Gamma(2, h))."""
    r = rng.gamma(2.0, h, count)
    th = rng.uniform(0, 2 * np.pi, count)
    xs, ys = _to_sky(r, th, incl, pa, cx, cy)
    c.add_points(xs, ys, flux * rng.dirichlet(np.full(count, 0.7)), _tint(rng, BLUE))


# Spacing of the fine structure in field units: 2.2-2.6 px at 32 px (the image spans 2 field units,
# so 1 px of 32 is 0.0625): resolved at HR 32, mostly averaged away by the 2x2 area average that
# makes LR 16 (its response to a period of 2.2-2.6 px is 0.1-0.3 along an axis).
_FINE_PERIOD = (0.1375, 0.1625)


def _modulate(c: Canvas, pattern: np.ndarray, window: np.ndarray, depth: float) -> None:
    """Multiply the light by 1 + depth x window x pattern (pattern in [-1, 1], mean ~0).

    Fine structure redistributes a galaxy's light without adding or removing it, so its area
    average (what a coarser image keeps) is the unmodulated galaxy.
    """
    c.flux *= (1 + np.float32(depth) * window * pattern).astype(np.float32)[:, :, None]


def _spheroid(
    c: Canvas,
    rng: np.random.Generator,
    flux: float,
    s: float,
    *,
    q: float,
    n: float,
    cx: float = 0.0,
    cy: float = 0.0,
) -> None:
    """A smooth red Sersic spheroid of half-light radius ~0.16 s (field units)."""
    re = 0.16 * s * rng.lognormal(0, 0.2)
    c.add(sersic(c, re=re, n=n, q=q, pa=rng.uniform(0, np.pi), cx=cx, cy=cy), flux, _tint(rng, RED))


def _spiral(
    c: Canvas,
    rng: np.random.Generator,
    flux: float,
    s: float,
    *,
    pitch_deg: tuple,
    arms: tuple,
    bar: tuple,
    bulge: tuple,
    knots: int,
    incl_max: float = 65.0,
    cx: float = 0.0,
    cy: float = 0.0,
) -> None:
    """Bulge + exponential disk + logarithmic arms + optional bar (bar strength 0..1)."""
    incl, pa = np.radians(rng.uniform(0, incl_max)), rng.uniform(0, np.pi)
    h = 0.13 * s * rng.lognormal(0, 0.2)
    f_bulge, strength = rng.uniform(*bulge), rng.uniform(*bar)
    pitch, n_arms = np.radians(rng.uniform(*pitch_deg)), int(rng.choice(arms))
    radius, theta = disk_plane(c, incl=incl, pa=pa, cx=cx, cy=cy)
    disk = np.exp(-radius / np.float32(h)) * np.float32(
        c.pixel**2 / (2 * np.pi * h * h * np.cos(incl))
    )
    bar_len = h * rng.uniform(1.0, 1.8)
    bar_angle = rng.uniform(0, np.pi)
    if strength > 0.05:
        xb = radius * np.cos(theta - bar_angle)
        yb = radius * np.sin(theta - bar_angle)
        ferrers = np.clip(1 - (xb / bar_len) ** 2 - (yb / (bar_len * 0.28)) ** 2, 0, None) ** 2
        f_bar = 0.4 * strength
        c.add(ferrers / np.float32(max(ferrers.sum(), 1e-6)), flux * f_bar, _tint(rng, YELLOW))
    else:
        f_bar = 0.0
    # Barred arms start at the bar ends; the fade keeps arms out of the bulge/bar zone.
    phase = bar_angle - np.log(bar_len) / np.tan(pitch) if strength > 0.05 else rng.uniform(0, 6.3)
    f_arm = rng.uniform(0.3, 0.6)
    mod = spiral_modulation(
        radius,
        theta,
        arms=n_arms,
        pitch=pitch,
        phase=phase,
        sharpness=rng.uniform(1.5, 4.0),
        r_in=max(bar_len * strength, 0.7 * h),
    )
    f_disk = flux * (1 - f_bulge - f_bar)
    c.add(disk, f_disk * (1 - f_arm), _tint(rng, YELLOW))
    c.add(disk * mod, f_disk * f_arm, _tint(rng, BLUE))
    c.add(
        sersic(
            c, re=0.35 * h, n=rng.uniform(1.5, 3.5), q=rng.uniform(0.75, 1.0), pa=pa, cx=cx, cy=cy
        ),
        flux * f_bulge,
        _tint(rng, RED),
    )
    if knots:
        _clumps(c, rng, f_disk * f_arm * 0.3, knots, h, incl, pa, cx, cy)


def _edge_on(
    c: Canvas, rng: np.random.Generator, flux: float, s: float, *, bulge: tuple, chain: bool
) -> None:
    """Thin disk seen at 80-90 degrees, bulge fraction from `bulge`, a dust lane in 40%.

    ``chain``: a bulgeless late-type disk whose thin star-forming midplane breaks into a chain of
    HII-region knots (Elmegreen's chain galaxies), a few hundred pc (2-3 px at 32 px) apart; the
    smooth, bulge-hosting disks have none. At 16 px the beads average into a smooth disk.
    """
    pa, h = rng.uniform(0, np.pi), 0.17 * s * rng.lognormal(0, 0.15)
    q, f_bulge = rng.uniform(0.07, 0.2), rng.uniform(*bulge)
    c.add(exp_disk(c, h=h, q=q, pa=pa), flux * (1 - f_bulge), _tint(rng, YELLOW))
    re_b = h * rng.uniform(0.35, 0.6)
    c.add(
        sersic(c, re=re_b, n=rng.uniform(2, 4), q=rng.uniform(0.6, 0.95), pa=pa),
        flux * f_bulge,
        _tint(rng, RED),
    )
    v = (c.y - 0) * np.cos(pa) - c.x * np.sin(pa)
    u = c.x * np.cos(pa) + c.y * np.sin(pa)
    if rng.random() < 0.4:
        tau = rng.uniform(0.4, 1.5) * np.exp(-0.5 * (v / (q * h * 0.3)) ** 2 - np.abs(u) / (3 * h))
        c.attenuate(tau.astype(np.float32), np.array([1.0, 0.75, 0.5], dtype=np.float32))
    period, phase = rng.uniform(*_FINE_PERIOD), rng.uniform(0, 2 * np.pi)
    if chain:
        beads = np.cos(2 * np.pi * u / np.float32(period) + np.float32(phase))
        window = np.exp(-0.5 * (v / (0.06 + 2 * q * h)) ** 2) * (np.abs(u) > 0.5 * re_b)
        _modulate(c, beads, window.astype(np.float32), rng.uniform(0.7, 0.95))


def _disturbed(c: Canvas, rng: np.random.Generator, flux: float, s: float) -> None:
    """Lopsided clumpy disk or spheroid, off-centre nucleus, plumes, sometimes a faint companion."""
    incl, pa, h = (
        np.radians(rng.uniform(0, 70)),
        rng.uniform(0, np.pi),
        0.15 * s * rng.lognormal(0, 0.25),
    )
    radius, theta = disk_plane(c, incl=incl, pa=pa)
    base = np.exp(-radius / np.float32(h)) * (
        1 + rng.uniform(0.2, 0.8) * np.cos(theta - rng.uniform(0, 6.3))
    )
    f_knots = rng.uniform(0.15, 0.45)
    c.add(base / np.float32(base.sum()), flux * (0.8 - f_knots), _tint(rng, YELLOW))
    off = rng.normal(0, 0.04 * s, 2)
    c.add(
        sersic(c, re=0.3 * h, n=2.0, q=0.8, pa=pa, cx=off[0], cy=off[1]),
        flux * 0.2,
        _tint(rng, RED),
    )
    _clumps(c, rng, flux * f_knots, int(rng.integers(5, 25)), 1.3 * h, incl, pa)
    if rng.random() < 0.5:
        _tails(c, rng, flux * rng.uniform(0.04, 0.12), 1, h, 0.0, 0.0)
    if rng.random() < 0.45:  # a faint minor companion: what makes these look like mergers
        d, a = rng.uniform(0.35, 0.7), rng.uniform(0, 2 * np.pi)
        _spheroid(
            c,
            rng,
            flux * rng.uniform(0.05, 0.2),
            0.35 * s,
            q=rng.uniform(0.5, 1),
            n=2,
            cx=d * np.cos(a),
            cy=d * np.sin(a),
        )


def _tails(
    c: Canvas, rng: np.random.Generator, flux: float, count: int, h: float, cx: float, cy: float
) -> None:
    """`count` curved tidal tails of total `flux` leaving a galaxy at (cx, cy)."""
    pa, incl, phase = rng.uniform(0, np.pi), np.radians(rng.uniform(0, 60)), rng.uniform(0, 6.3)
    for k in range(count):
        tail = tidal_tail(
            c,
            cx=cx,
            cy=cy,
            pa=pa,
            incl=incl,
            r0=h,
            length=rng.uniform(0.3, 0.7),
            pitch=np.radians(rng.uniform(20, 50)),
            phase=phase + np.pi * k,
            width=rng.uniform(0.15, 0.35),
        )
        c.add(tail, flux / count, _tint(rng, BLUE))


def _merging(c: Canvas, rng: np.random.Generator, flux: float, s: float) -> None:
    """Two galaxies with tidal tails; 45% are late-stage, clumpy and close (like Disturbed)."""
    late = rng.random() < 0.45
    sep = rng.uniform(0.03, 0.12) if late else rng.uniform(0.15, 0.55)
    a = rng.uniform(0, 2 * np.pi)
    ratio = rng.uniform(0.25, 1.0)
    centres = [
        (-sep * 0.4 * np.cos(a), -sep * 0.4 * np.sin(a)),
        (sep * 0.6 * np.cos(a), sep * 0.6 * np.sin(a)),
    ]
    fluxes = (flux / (1 + ratio), flux * ratio / (1 + ratio))
    for (cx, cy), f in zip(centres, fluxes, strict=True):
        if rng.random() < 0.5:
            _spheroid(
                c, rng, f * 0.8, 0.7 * s, q=rng.uniform(0.5, 1), n=rng.uniform(1.5, 4), cx=cx, cy=cy
            )
        else:
            _spiral(
                c,
                rng,
                f * 0.8,
                0.7 * s,
                pitch_deg=(15, 35),
                arms=(2,),
                bar=(0, 0),
                bulge=(0.1, 0.4),
                knots=0,
                cx=cx,
                cy=cy,
            )
        _tails(c, rng, f * rng.uniform(0.1, 0.3), int(rng.integers(1, 3)), 0.08 * s, cx, cy)
    if late:
        _clumps(c, rng, flux * rng.uniform(0.1, 0.3), int(rng.integers(3, 15)), 0.15 * s, 0.5, a)


def _interacting(shells: bool):
    """Disturbed and merging galaxies: the same two kinds of system (a lopsided clumpy remnant,
    ``_disturbed``, or two galaxies with tails, ``_merging``), 70/30 for Disturbed and 30/70 for
    Merging, told apart by fine structure. A post-merger remnant (Disturbed) carries a shell/ripple
    system (Malin & Carter 1983; Quinn 1984): sharp concentric arcs 2.2-2.6 px apart at 32 px
    around the body; an ongoing merger has not yet phase-wrapped its debris into shells. At 16 px
    the ripples average away, as real shells fade from coarse images.
    """

    def draw(c: Canvas, rng: np.random.Generator, flux: float, s: float) -> None:
        if rng.random() < (0.7 if shells else 0.3):
            _disturbed(c, rng, flux, s)
        else:
            _merging(c, rng, flux, s)
        period, phase = rng.uniform(*_FINE_PERIOD), rng.uniform(0, 2 * np.pi)
        if shells:
            r = np.hypot(c.x, c.y)
            ripples = np.cos(2 * np.pi * r / np.float32(period) + np.float32(phase))
            r_in, r_out = 0.06 * s, rng.uniform(0.45, 0.7)
            window = np.clip((r - r_in) / 0.05, 0, 1) * np.exp(-0.5 * (r / r_out) ** 4)
            _modulate(c, ripples, window.astype(np.float32), rng.uniform(0.7, 0.95))

    return draw


def _smooth(q_range: tuple, n_range: tuple, size: float):
    def draw(c: Canvas, rng: np.random.Generator, flux: float, s: float) -> None:
        _spheroid(c, rng, flux, s * size, q=rng.uniform(*q_range), n=rng.uniform(*n_range))

    return draw


def _spiral_class(**kw):
    def draw(c: Canvas, rng: np.random.Generator, flux: float, s: float) -> None:
        _spiral(c, rng, flux, s, **kw)

    return draw


# Label -> drawer, in Galaxy10 DECaLS order (galaxybench.data.classes.DECALS_CLASS_NAMES).
_DRAWERS = (
    _interacting(shells=True),  # Disturbed
    _interacting(shells=False),  # Merging
    _smooth((0.72, 1.0), (2.5, 5.0), 0.9),  # Round Smooth
    _smooth((0.45, 0.82), (1.5, 4.0), 1.0),  # In-between Round Smooth
    _smooth((0.15, 0.35), (1.0, 2.5), 1.1),  # Cigar Shaped Smooth
    _spiral_class(
        pitch_deg=(10, 30), arms=(2, 2, 2, 3), bar=(0.35, 1.0), bulge=(0.05, 0.35), knots=6
    ),
    _spiral_class(pitch_deg=(7, 19), arms=(2, 3, 4), bar=(0.0, 0.45), bulge=(0.1, 0.4), knots=4),
    _spiral_class(
        pitch_deg=(16, 35), arms=(2, 2, 3), bar=(0.0, 0.45), bulge=(0.02, 0.25), knots=10
    ),
    lambda c, rng, f, s: _edge_on(c, rng, f, s, bulge=(0.0, 0.2), chain=True),  # without Bulge
    lambda c, rng, f, s: _edge_on(c, rng, f, s, bulge=(0.05, 0.3), chain=False),  # with Bulge
)


def _field_stars(c: Canvas, rng: np.random.Generator) -> None:
    """Foreground stars: unresolved points anywhere in the cutout (real cutouts have them)."""
    count = rng.poisson(0.8)
    if count:
        xs, ys = rng.uniform(-0.95, 0.95, (2, count))
        c.add_points(
            xs, ys, rng.lognormal(np.log(150), 1.0, count), _tint(rng, YELLOW), knots=False
        )


def render_galaxy(
    rng: np.random.Generator, label: int, size: int, noise: float = 1.0, pedestal: float = 0.0
) -> tuple[np.ndarray, float, float]:
    """Render one galaxy of class `label` as a (size, size, 3) uint8 image in bands (g, r, z).

    `noise` multiplies the sky/photon noise sigma and `pedestal` leaves a residual sky level
    (1.0 and 0.0 for the embedded set; see ``Canvas.finish``).

    Returns:
        (image, redshift, pxscale): redshift sets the apparent size and brightness; pxscale is
        0.524 arcsec/px when the galaxy would overflow a 0.262 arcsec/px cutout (as in DECaLS).
    """
    n_model = MODEL_MAX if size > MODEL_MAX else size * int(np.ceil(_MODEL_MIN / size))
    z = float(np.clip(rng.lognormal(np.log(0.07), 0.45), 0.01, 0.3))
    s = float((0.07 / z) ** 0.6 * rng.lognormal(0, 0.15))
    pxscale = 0.262
    if s > 1.6:  # DECaLS bins the biggest galaxies 2x2 so they fit the 256-px cutout
        s, pxscale = s / 2, 0.524
    flux = 9000.0 * (0.07 / z) ** 0.8 * rng.lognormal(0, 0.3)
    canvas = Canvas(n_model)
    _DRAWERS[label](canvas, rng, flux, s)
    _field_stars(canvas, rng)
    psf = rng.uniform(0.9, 1.5) / 2.355 / pxscale * (2 / 256)  # seeing FWHM 0.9-1.5 arcsec
    img = canvas.finish(
        rng,
        size,
        psf=psf,
        blob_sigma=rng.uniform(0.012, 0.03),
        sky=rng.uniform(0.5, 1.5),
        noise=noise,
        pedestal=pedestal,
    )
    return img, z, pxscale
