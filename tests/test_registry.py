"""The registries: lazy loading, type checks at registration, plugin import errors.

Usage: ``pytest tests/test_registry.py -q``
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint

import numpy as np
import pytest

from galaxybench import registry
from galaxybench.errors import ConfigError
from galaxybench.registry import CLASSIFIER_LOSSES, REBALANCERS, UPSCALERS, Registry
from galaxybench.stages.base import NothingToLearn, Rebalancer, Upscaler


def test_config_validation_loads_no_stage_until_a_name_is_checked() -> None:
    code = (
        "import sys, galaxybench.config as c; before = 'galaxybench.stages' in sys.modules; "
        "c.load_profile('smoke'); print(before, 'galaxybench.stages.upscale_srgan' in "
        "sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    assert out == ["False", "True"]


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown upscaler 'bicubc' \(known: .*bicubic"):
        UPSCALERS.get("bicubc")
    assert "bicubc" not in UPSCALERS and "bicubic" in UPSCALERS


def test_registration_checks_the_base_class_and_abstract_methods() -> None:
    reg: Registry = Registry("upscaler", base="galaxybench.stages.base:Upscaler")

    class NotAnUpscaler:
        def apply(self, *args, **kwargs):
            return None

    with pytest.raises(TypeError, match=r"subclassing galaxybench.stages.base.Upscaler"):
        reg.register("x")(NotAnUpscaler)

    class Half(Upscaler):
        def fit(self, *args, **kwargs):
            return None

    with pytest.raises(TypeError, match=r"does not implement apply"):
        reg.register("half")(Half)

    class Fine(NothingToLearn, Upscaler):
        def apply(self, cfg, weights, lr, *, device, hr_true=None):
            return np.repeat(np.repeat(lr, 2, axis=2), 2, axis=3)

    assert reg.register("fine")(Fine) is Fine and Fine().trainable is False
    with pytest.raises(ValueError, match="already registered"):
        reg.register("fine")(type("Other", (Fine,), {}))
    with pytest.raises(TypeError, match="must be callable"):
        Registry("loss").register("bad")(3)


def test_built_in_stages_subclass_their_bases() -> None:
    assert all(issubclass(UPSCALERS.get(n), Upscaler) for n in UPSCALERS.names())
    assert all(issubclass(REBALANCERS.get(n), Rebalancer) for n in REBALANCERS.names())
    untrained = {
        n
        for n in UPSCALERS.names() + REBALANCERS.names()
        if issubclass((UPSCALERS.get(n) if n in UPSCALERS else REBALANCERS.get(n)), NothingToLearn)
    }
    assert {"bicubic", "oracle", "none", "oversample"} <= untrained
    assert "srgan" not in untrained and "cgan" not in untrained
    assert callable(CLASSIFIER_LOSSES.get("focal"))


def test_a_broken_plugin_names_its_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint(name="broken", value="no_such_module_xyz", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [broken])
    monkeypatch.setattr(registry, "_plugins_loaded", set())
    with pytest.raises(ConfigError, match=r"stage plugin 'broken' \(no_such_module_xyz.*failed"):
        registry.load_stages(rescan=True)
