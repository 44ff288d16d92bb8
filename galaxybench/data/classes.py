"""Class names and counts of the Galaxy10 datasets.

Usage: ``DECALS_CLASS_NAMES[4]`` -> "Cigar Shaped Smooth".
"""

from __future__ import annotations

# Galaxy10 DECaLS (Leung & Bovy; Zenodo record 10845026), 17,736 images of 256x256x3.
DECALS_CLASS_NAMES: tuple[str, ...] = (
    "Disturbed",
    "Merging",
    "Round Smooth",
    "In-between Round Smooth",
    "Cigar Shaped Smooth",
    "Barred Spiral",
    "Unbarred Tight Spiral",
    "Unbarred Loose Spiral",
    "Edge-on without Bulge",
    "Edge-on with Bulge",
)
DECALS_COUNTS: tuple[int, ...] = (1081, 1853, 2645, 2027, 334, 2043, 1829, 2628, 1423, 1873)

# Galaxy10 (SDSS) (Zenodo record 10844811), 21,785 images of 69x69x3.
SDSS_CLASS_NAMES: tuple[str, ...] = (
    "Disk, Face-on, No Spiral",
    "Smooth, Completely round",
    "Smooth, in-between round",
    "Smooth, Cigar shaped",
    "Disk, Edge-on, Rounded Bulge",
    "Disk, Edge-on, Boxy Bulge",
    "Disk, Edge-on, No Bulge",
    "Disk, Face-on, Tight Spiral",
    "Disk, Face-on, Medium Spiral",
    "Disk, Face-on, Loose Spiral",
)
SDSS_COUNTS: tuple[int, ...] = (3461, 6997, 6292, 394, 1534, 17, 589, 1121, 906, 519)
