"""torch-fidelity feature extractors of galaxybench: the galaxy-domain extractor (docs/protocol.md).

The galaxy-domain extractor is the penultimate layer of a classifier trained on real training
images (the baseline's PaperCNN). torch-fidelity builds extractors from a registered *name*, so the
trained network travels as a keyword argument: ``calculate_metrics`` passes its unknown keyword
arguments unchanged to the extractor's constructor (torch_fidelity 0.4:
metrics.calculate_metrics_one_feature_extractor -> utils.create_feature_extractor ->
``cls(name, list_features, **kwargs)``). The extractor deep-copies the network, because
torch-fidelity calls ``requires_grad_(False)``, ``eval()`` and ``cuda()`` on the extractor, and the
caller's model must not change. Stored weights (a state dict saved with ``torch.save``) can be
loaded into that copy through torch-fidelity's own ``feature_extractor_weights_path``, with
``torch.load(weights_only=True)``.

Usage::

    torch_fidelity.calculate_metrics(input1=synthetic_ds, input2=real_ds, fid=True, cuda=False,
                                     feature_extractor=DOMAIN_EXTRACTOR,
                                     **{DOMAIN_NETWORK_KWARG: classifier})
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
import torch_fidelity
from torch import nn
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from galaxybench.images import to_float

log = logging.getLogger(__name__)

DOMAIN_EXTRACTOR = "galaxy-domain"  # the name in torch-fidelity's and galaxybench's registries
DOMAIN_NETWORK_KWARG = "galaxybench_network"  # calculate_metrics keyword carrying the network
PENULTIMATE = "penultimate"  # (B, dense_units) activations of network.features(x)
LOGITS = "logits"  # (B, num_classes) outputs of network(x)


class FeatureExtractorGalaxyDomain(torch_fidelity.FeatureExtractorBase):
    """Features of a trained galaxy classifier, for FID/KID/precision-recall (and a domain IS).

    torch-fidelity calls the constructor once per ``calculate_metrics`` call, then ``forward`` on
    uint8 (B, 3, H, W) batches already on its device. The network must take float (B, 3, H, W) in
    [-1, 1] (``galaxybench.images.to_float``) and expose ``features(x) -> (B, D)``.
    """

    def __init__(
        self,
        name: str,
        features_list: list[str],
        feature_extractor_weights_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, features_list)
        network = kwargs.get(DOMAIN_NETWORK_KWARG)
        if not isinstance(network, nn.Module) or not callable(getattr(network, "features", None)):
            raise ValueError(
                f"feature extractor {name!r} needs {DOMAIN_NETWORK_KWARG}=<nn.Module "
                "with a features(x) method>"
            )
        # A private CPU copy: torch-fidelity moves and freezes the extractor it builds.
        self.network = copy.deepcopy(network).float().cpu()
        if feature_extractor_weights_path is not None:
            self.network.load_state_dict(
                torch.load(feature_extractor_weights_path, map_location="cpu", weights_only=True)
            )
        self.network.requires_grad_(False)
        self.network.eval()

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return PENULTIMATE, LOGITS

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        # The penultimate layer for the distribution metrics; logits only make sense for IS.
        return {"isc": LOGITS, "fid": PENULTIMATE, "kid": PENULTIMATE, "prc": PENULTIMATE}[metric]

    @staticmethod
    def can_be_compiled() -> bool:
        # An arbitrary small network on small images: compiling costs more than it saves.
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 3, 32, 32, dtype=torch.uint8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """uint8 (B, 3, H, W) -> the requested features, float32, in ``features_list`` order."""
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected uint8 (B, 3, H, W) images, got {x.dtype} {tuple(x.shape)}")
        features = self.network.features(to_float(x))  # (B, D)
        out = {PENULTIMATE: features}
        if LOGITS in self.features_list:
            out[LOGITS] = self.network(to_float(x))  # (B, K)
        return tuple(out[name].float() for name in self.features_list)


def ensure_registered() -> None:
    """Register the galaxy-domain extractor with torch-fidelity, once.

    Safe to call any number of times and in any process (Ray workers import this module afresh).
    A re-imported copy of this module finds the name taken by an equal class and keeps it; a
    different class under the same name is a conflict and raises ValueError.
    """
    current = FEATURE_EXTRACTORS_REGISTRY.get(DOMAIN_EXTRACTOR)
    if current is None:
        torch_fidelity.register_feature_extractor(DOMAIN_EXTRACTOR, FeatureExtractorGalaxyDomain)
        log.debug("registered torch-fidelity feature extractor %s", DOMAIN_EXTRACTOR)
    elif (current.__module__, current.__qualname__) != (
        FeatureExtractorGalaxyDomain.__module__,
        FeatureExtractorGalaxyDomain.__qualname__,
    ):
        raise ValueError(
            f"torch-fidelity feature extractor {DOMAIN_EXTRACTOR!r} is already "
            f"registered as {current.__module__}.{current.__qualname__}"
        )


ensure_registered()
