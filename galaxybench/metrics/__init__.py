"""Quality metrics of a trial: super-resolution (``image_quality``: PSNR, SSIM) and others.

Usage::

    from galaxybench.metrics.image_quality import sr_quality
"""
