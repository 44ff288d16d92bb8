"""Search spaces as strict data: the built-in files, every error path, round trips.

Usage: ``pytest tests/test_search_space.py``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from galaxybench import config
from galaxybench.errors import ConfigError
from galaxybench.sweep.space import (
    load_search_space,
    parse_search_space,
    search_space_names,
)

VALID = {
    "base": {"profile": "smoke", "set": {"upscale.method": "srgan", "rebalance.method": "cgan"}},
    "params": {
        "srgan.depth": {"grid": [1, 2]},
        "cgan.lr": {"loguniform": [1.0e-4, 1.0e-2]},
        "rebalance.threshold": {"uniform": [0.3, 0.9]},
        "cgan.batch_size": {"choice": [8, 16]},
        "srgan.channels": {"int": [4, 8]},
    },
    "search": {"algorithm": "optuna", "num_samples": 3, "scheduler": "asha", "max_concurrent": 2},
    "seeds": {"search": 0, "confirm": [1, 2]},
    "top_k": 2,
    "resources": {"cpu": 1, "gpu": 0.25},
}


def _with(path: str, value) -> dict:
    """VALID with the dotted ``path`` (into the YAML tree) set to ``value`` (None deletes)."""
    tree = copy.deepcopy(VALID)
    *parents, last = path.split("/")
    node = tree
    for p in parents:
        node = node[p]
    if value is None:
        node.pop(last)
    else:
        node[last] = value
    return tree


def test_builtin_spaces_load_and_paper_matches_the_issue():
    assert {"default", "paper", "paper-grid", "smoke"} <= set(search_space_names())
    for name in search_space_names():
        load_search_space(name).base_config()
    paper = {p.key: p for p in load_search_space("paper").params}
    assert set(paper["srgan.depth"].values) == {4, 8, 16}
    assert (paper["cgan.lr"].kind, paper["cgan.lr"].low, paper["cgan.lr"].high) == (
        "loguniform",
        1.0e-5,
        1.0e-2,
    )
    assert set(paper["cgan.batch_size"].values) == {6, 16, 32, 64}
    assert (paper["rebalance.threshold"].low, paper["rebalance.threshold"].high) == (0.3, 0.9)
    grid = load_search_space("paper-grid")
    assert grid.search.algorithm == "grid" and all(p.kind == "grid" for p in grid.params)


def test_valid_space_parses_with_its_settings():
    s = parse_search_space(VALID, "v.yaml")
    assert s.param_keys() == list(VALID["params"])
    assert (s.search_seed, s.confirm_seeds, s.top_k, s.cpu, s.gpu) == (0, (1, 2), 2, 1.0, 0.25)
    base = s.base_config()
    assert (base.upscale.method, base.rebalance.method, base.data.hr_size) == ("srgan", "cgan", 16)


def test_round_trip_through_to_dict_and_yaml():
    s = parse_search_space(VALID, "v.yaml")
    again = parse_search_space(
        yaml.safe_load(yaml.safe_dump(s.to_dict(), sort_keys=False)), "v.yaml"
    )
    assert again == s


@pytest.mark.parametrize(
    "path,value,needle",
    [
        ("colour", 1, "colour"),
        ("params/cgan.learning_rate", {"uniform": [0.1, 0.2]}, "params.cgan.learning_rate"),
        ("params/seed", {"grid": [1, 2]}, "params.seed"),
        ("params/data.hr_size", {"grid": [16, 32]}, "params.data.hr_size"),
        ("params/eval.minority_fraction", {"uniform": [0.5, 0.7]}, "defines the objective"),
        ("params/classifier.epochs", {"int": [2, 6]}, "ASHA's max_t"),
        ("params/cgan.lr", {"loguniform": ["fast", 1.0e-2]}, "bounds must be numbers, got 'fast'"),
        ("params/srgan.depth", {"int": ["1e0", 4]}, "bounds must be integers"),
        ("params/cgan.lr", {"loguniform": [0.0, 1.0e-2]}, "low > 0"),
        ("params/cgan.lr", {"uniform": [0.1, 0.01]}, "low < high"),
        ("params/cgan.lr", {"normal": [0.1, 0.01]}, "params.cgan.lr.normal"),
        ("params/cgan.lr", {"int": [1, 3]}, "integer config key"),
        ("params/srgan.depth", {"uniform": [1.0, 3.0]}, "use int"),
        ("params/srgan.depth", {"grid": [1, 1]}, "repeated"),
        ("params/srgan.depth", {"grid": [1, 999]}, "srgan.depth must be in [1, 64], got 999"),
        ("params/upscale.method", {"choice": ["bicubic", "magic"]}, "upscale.method"),
        ("params/rebalance.threshold", {"uniform": [0.3, 1.5]}, "rebalance.threshold"),
        ("base/profile", "nope", "unknown profile"),
        ("base/set", {"cgan.lrr": 1.0}, "base.set.cgan.lrr"),
        ("search/algorithm", "bayes", "search.algorithm"),
        ("search/scheduler", "bohb", "search.scheduler"),
        ("search/num_samples", 0, "search.num_samples"),
        ("search/max_concurrent", 1.5, "search.max_concurrent"),
        ("search/budget", 3, "search.budget"),
        ("seeds/confirm", [0, 1], "search seed 0"),
        ("seeds/confirm", [], "seeds.confirm"),
        ("top_k", 0, "top_k"),
        ("resources/gpu", 1.5, "resources.gpu"),
        ("resources/cpu", "1", "resources.cpu"),
    ],
)
def test_bad_spaces_name_the_file_and_the_key(path, value, needle):
    with pytest.raises(ConfigError) as err:
        parse_search_space(_with(path, value), "bad.yaml")
    message = str(err.value)
    assert message.startswith("bad.yaml") and needle in message, message


def test_grid_search_needs_grid_params():
    tree = _with("search/algorithm", "grid")
    with pytest.raises(ConfigError, match=r"params.cgan.lr must be a grid parameter"):
        parse_search_space(tree, "g.yaml")
    tree["params"] = {"srgan.depth": {"grid": [1, 2]}}
    assert parse_search_space(tree, "g.yaml").search.algorithm == "grid"


def test_yaml_1e_minus_4_string_is_a_number_in_a_file(tmp_path: Path):
    tree = _with(
        "base/set", {"cgan.lr": "3e-4", "rebalance.method": "cgan", "upscale.method": "srgan"}
    )
    tree["params"]["cgan.d_lr_scale"] = {"choice": ["5e-1", 1.0]}
    text = yaml.safe_dump(tree).replace("0.0001", "1e-4")
    path = tmp_path / "space.yaml"
    path.write_text(text)
    assert yaml.safe_load(text)["params"]["cgan.lr"]["loguniform"][0] == "1e-4"  # PyYAML's quirk
    space = load_search_space(path)
    lr = {p.key: p for p in space.params}["cgan.lr"]
    assert (lr.low, lr.high) == (1e-4, 1e-2)
    assert {p.key: p for p in space.params}["cgan.d_lr_scale"].values == (0.5, 1.0)
    assert space.overrides["cgan.lr"] == 3e-4 and space.base_config().cgan.lr == 3e-4
    assert parse_search_space(space.to_dict(), "again.yaml").overrides == space.overrides


@pytest.mark.parametrize(
    "path,value,expected",
    [
        (
            "params/cgan.learning_rate",
            {"loguniform": [1.0e-5, 1.0e-2]},
            "params.cgan.learning_rate: unknown config key 'cgan.learning_rate'; "
            "did you mean 'cgan.lr'? (galaxybench run --help lists keys)",
        ),
        (
            "base/set",
            {"rebalance.methd": "cgan"},
            "base.set.rebalance.methd: unknown config key 'rebalance.methd'; "
            "did you mean 'rebalance.method'?",
        ),
        ("params/seed", {"grid": [1, 2]}, "params.seed cannot be set here: seeds go under `seeds`"),
        ("params/cgan.lr", {"loguniforn": [1e-5, 1e-2]}, "did you mean 'loguniform'?"),
        ("serach", {"num_samples": 2}, "serach is not a known key; did you mean 'search'?"),
        (
            "search/num_sample",
            2,
            "search.num_sample is not a known key; did you mean 'num_samples'",
        ),
    ],
)
def test_space_typos_get_the_likely_key(path, value, expected):
    with pytest.raises(ConfigError) as err:
        parse_search_space(_with(path, value), "typo.yaml")
    message = str(err.value)
    assert message.startswith("typo.yaml: ") and expected in message, message
    if path.startswith("params/cgan"):
        assert "seed" not in message, message  # no hint about seeds for a mistyped key


def test_a_binary_space_file_is_one_config_error(tmp_path: Path):
    path = tmp_path / "space.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n\xff\xfe\xe9")
    with pytest.raises(ConfigError, match=r"space.h5 is not a search space: it is binary"):
        load_search_space(path)


def test_unknown_name_and_missing_file():
    with pytest.raises(ConfigError, match=r"unknown search space 'nope'.*smoke"):
        load_search_space("nope")
    with pytest.raises(ConfigError, match="cannot read"):
        load_search_space("/no/such/space.yaml")


def test_with_options_applies_and_checks_command_line_settings():
    s = parse_search_space(VALID, "v.yaml")
    t = s.with_options(
        overrides=["classifier.epochs=3"], gpus_per_trial=0.5, num_samples=7, max_concurrent=4
    )
    assert t.base_config().classifier.epochs == 3 and t.gpu == 0.5
    assert (t.search.num_samples, t.search.max_concurrent) == (7, 4)
    assert s.base_config().classifier.epochs == config.load_profile("smoke").classifier.epochs
    with pytest.raises(ConfigError, match=r"^cgan.lr in --set conflicts with a parameter that v"):
        s.with_options(overrides=["cgan.lr=1.0e-3"])
    fixed = s.with_options(overrides=["cgan.lr=1.0e-3"], fix_params=True)  # ablate: one config
    assert fixed.base_config().cgan.lr == 1.0e-3
    with pytest.raises(ConfigError, match=r"^seed in --set cannot be set: the space's seeds"):
        s.with_options(overrides=["seed=3"])
    with pytest.raises(ConfigError, match="--gpus-per-trial"):
        s.with_options(gpus_per_trial=1.5)
    with pytest.raises(ConfigError, match=r"classifier.epochs must be >= 1"):
        s.with_options(overrides=["classifier.epochs=0"])


def test_optuna_distributions_match_the_params():
    from optuna import distributions as D

    dist = parse_search_space(VALID, "v.yaml").optuna_distributions()
    assert dist["srgan.depth"] == D.CategoricalDistribution([1, 2])
    assert dist["cgan.lr"] == D.FloatDistribution(1.0e-4, 1.0e-2, log=True)
    assert dist["rebalance.threshold"] == D.FloatDistribution(0.3, 0.9)
    assert dist["srgan.channels"] == D.IntDistribution(4, 8)  # inclusive, as the YAML says


def test_cli_refuses_a_bad_space_and_a_nameless_resume_in_one_line(capsys):
    from galaxybench.cli import main

    assert main(["sweep", "--space", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown search space 'nope'" in err[0]
    assert main(["sweep", "--resume"]) == 2
    assert "--resume needs the --name" in capsys.readouterr().err
    assert main(["ablate", "--space", "smoke", "--set", "cgan.learning_rate=1.0e-3"]) == 2


def test_the_readme_search_space_example_is_a_valid_space(tmp_path):
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"## Writing a search space.*?```yaml\n(.*?)```", readme, re.S)
    assert block, "README.md has no search-space example"
    (tmp_path / "space.yaml").write_text(block.group(1))
    space = load_search_space(str(tmp_path / "space.yaml"))
    assert space.search.scheduler == "asha" and space.search.ladder == (1 / 9, 1.0)
    assert space.param_keys() == ["srgan.depth", "cgan.lr", "rebalance.threshold"]


@pytest.mark.parametrize(
    "change, needle",
    [
        (
            {"base/set/rebalance.method": "none"},
            "params.cgan.lr is never read: it is read only when rebalance.method is cgan, and "
            "rebalance.method is none in every trial of this space",
        ),
        (
            {"base/set/upscale.method": "bicubic"},
            "params.srgan.depth is never read: it is read only when upscale.method is srgan",
        ),
        (
            {
                "base/set/rebalance.method": "none",
                "params/cgan.lr": None,
                "params/cgan.batch_size": None,
                "params/rebalance.method": {"choice": ["none"]},
            },
            "params.rebalance.threshold is never read: it is read only when rebalance.method is "
            "not none",
        ),
        (
            {"params/rebalance.method": {"choice": ["none", "oversample"]}},
            "rebalance.method is one of none, oversample in every trial of this space",
        ),
    ],
)
def test_a_searched_key_no_trial_reads_is_refused(change, needle):
    tree = copy.deepcopy(VALID)
    for path, value in change.items():
        section, key = path.rsplit("/", 1)
        node = tree
        for part in section.split("/"):
            node = node[part]
        if value is None:
            node.pop(key)
        else:
            node[key] = value
    with pytest.raises(ConfigError) as err:
        parse_search_space(tree, "s.yaml")
    assert str(err.value).startswith("s.yaml: ") and needle in str(err.value)
    assert "\n" not in str(err.value)


def test_a_searched_key_some_trials_read_is_accepted():
    """The space may search the method itself: cgan.lr is read in the trials that pick cgan."""
    tree = copy.deepcopy(VALID)
    tree["base"]["set"]["rebalance.method"] = "none"
    tree["params"]["rebalance.method"] = {"choice": ["none", "cgan"]}
    assert "cgan.lr" in parse_search_space(tree, "s.yaml").param_keys()


def test_set_that_makes_a_searched_key_inert_is_refused():
    with pytest.raises(ConfigError, match=r"params\.cgan\.lr is never read"):
        load_search_space("smoke").with_options(overrides=["rebalance.method=none"])


def test_inert_settings_of_a_profile_file_share_one_line_per_method(tmp_path: Path):
    from galaxybench.protocol import inert_settings

    profile = tmp_path / "mine.yaml"
    profile.write_text("srgan: {depth: 2, channels: 8}\nclassifier: {epochs: 3}\n")
    cfg = config.load_profile(str(profile), ["metrics.kid_subsets=3"])
    assert inert_settings(cfg, config.profile_keys(str(profile), ["metrics.kid_subsets=3"])) == [
        "srgan.channels, srgan.depth have no effect: they are read only when upscale.method is "
        "srgan (here: bicubic)",
        "metrics.kid_subsets has no effect: it is read only when rebalance.method is cgan "
        "(here: none)",
    ]
    # A built-in profile's own sections (smoke sizes the SRGAN) are not the user's settings.
    assert inert_settings(config.load_profile("smoke"), config.profile_keys("smoke")) == []


def test_a_set_key_no_trial_of_the_space_reads_is_named():
    from galaxybench.sweep.space import unread_settings

    tree = copy.deepcopy(VALID)
    tree["base"]["set"]["rebalance.method"] = "oversample"
    for key in ("cgan.lr", "cgan.batch_size"):
        tree["params"].pop(key)
    space = parse_search_space(tree, "s.yaml").with_options(overrides=["cgan.epochs=3"])
    assert unread_settings(space, ["cgan.epochs", "rebalance.target"]) == [
        "cgan.epochs has no effect: it is read only when rebalance.method is cgan, and "
        "rebalance.method is oversample in every trial of this space"
    ]


def test_the_notebook_sweep_logs_a_setting_no_trial_reads(monkeypatch, caplog, tmp_path):
    import galaxybench.api as api

    monkeypatch.setattr(api, "run_experiment", lambda *a, **k: {"experiment_dir": str(tmp_path)})
    tree = copy.deepcopy(VALID)
    tree["base"]["set"]["upscale.method"] = "bicubic"
    for key in ("srgan.depth", "srgan.channels"):
        tree["params"].pop(key)
    space = parse_search_space(tree, "s.yaml")
    with caplog.at_level("WARNING", logger="galaxybench.api"):
        api.run_sweep(space, srgan__epochs=3, cgan__epochs=2)
    assert [r.getMessage() for r in caplog.records] == [
        "srgan.epochs has no effect: it is read only when upscale.method is srgan, and "
        "upscale.method is bicubic in every trial of this space"
    ]
