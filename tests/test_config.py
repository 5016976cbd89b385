"""Configs: validation with key paths, --set overrides, exit code 2 and nothing written."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from traitrl.config import load_config
from traitrl.errors import UserError


def test_shipped_configs_load():
    assert load_config("configs/default.yaml").name == "default"
    smoke = load_config("configs/smoke.yaml")
    assert smoke.scenarios.per_cell < load_config("configs/default.yaml").scenarios.per_cell


def test_overrides_are_typed():
    cfg = load_config("configs/smoke.yaml", ["scenarios.per_cell=3", "world.unknowable_fraction=0.5", "name=x",
                                              "scenarios.traits=[truthfulness, corrigibility]"])
    assert cfg.scenarios.per_cell == 3 and cfg.world.unknowable_fraction == 0.5 and cfg.name == "x"
    assert cfg.scenarios.traits == ["truthfulness", "corrigibility"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("scenarios:\n  per_cell: many\n", "scenarios.per_cell: Input should be a valid integer"),
        ("scenarios:\n  per_cel: 3\n", "scenarios.per_cel: unknown key; allowed here: seed, per_cell"),
        ("wrld: {}\n", "wrld: unknown key; allowed here: schema_version, name, world"),
        ("world:\n  unknowable_fraction: 2\n", "world.unknowable_fraction: Input should be less than 1"),
        ("scenarios:\n  traits: [bravery]\n", "unknown ['bravery']; allowed: truthfulness"),
        ("world: [1, 2\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping"),
        ("run:\n  seeds: 2\n  persistence_seeds: 3\n", "run.persistence_seeds (3) cannot exceed run.seeds (2)"),
    ],
)
def test_bad_configs_are_refused_with_the_key_path(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as e:
        load_config(path)
    assert expected in str(e.value)
    assert str(path) in str(e.value)


def test_bad_override_is_refused():
    with pytest.raises(UserError, match="scenarios.per_cell"):
        load_config("configs/smoke.yaml", ["scenarios.per_cell=-1"])
    with pytest.raises(UserError, match="expected dotted.key=value"):
        load_config("configs/smoke.yaml", ["scenarios.per_cell"])


def test_cli_bad_config_exits_2_and_writes_nothing(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("scenarios:\n  per_cell: many\n")
    out = tmp_path / "out"
    res = run_cli("scenarios", "generate", "--config", str(path), "--out", str(out))
    assert res.returncode == 2
    assert "scenarios.per_cell" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()
    res = run_cli("run", "--config", "configs/smoke.yaml", "--set", "world.bogus=1", "--out", str(out))
    assert res.returncode == 2 and "world.bogus: unknown key" in res.stderr
    assert not out.exists()


def test_every_command_has_help():
    for args in (["--help"], ["run", "--help"], ["scenarios", "generate", "--help"], ["scenarios", "validate", "--help"],
                 ["grader", "check", "--help"], ["config", "show", "--help"]):
        res = run_cli(*args)
        assert res.returncode == 0 and "Usage" in res.stdout, args


def test_config_show_resolves_overrides():
    res = run_cli("config", "show", "--config", "configs/smoke.yaml", "--set", "scenarios.per_cell=9")
    assert res.returncode == 0 and "per_cell: 9" in res.stdout


# -- the arm registry -----------------------------------------------------------------------------

def test_unknown_arm_fails_at_config_load_with_the_registered_names(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  arm: both\n")
    with pytest.raises(UserError) as e:
        load_config(path)
    assert "train.arm: Value error, unknown arm 'both'; allowed: baseline, trait, health_only, no_health_science, helpfulness_control, custom" in str(e.value)
    assert load_config(None, ["train.arm=health_only"]).train.arm == "health_only"


def test_paper_arms_and_comparisons_come_from_the_registry():
    from traitrl.train.arms import ARMS, COMPARISONS, CONTROL, PAPER_ARMS, arm_config

    assert CONTROL == "baseline" and ARMS["baseline"].control and not ARMS["trait"].control
    assert PAPER_ARMS == ("baseline", "trait", "health_only", "no_health_science", "helpfulness_control")  # custom is no paper arm
    assert COMPARISONS == (("trait_vs_baseline", "trait"), ("health_only_vs_baseline", "health_only"),
                           ("no_health_science_vs_baseline", "no_health_science"),
                           ("helpfulness_control_vs_baseline", "helpfulness_control"))
    train = load_config(None, ["train.trait_fraction=0.3", "train.include_domains=[law]"]).train
    assert arm_config(train, "baseline").trait_fraction == 0.0
    health = arm_config(train, "health_only")
    assert (health.arm, health.trait_fraction, health.include_domains) == ("health_only", 0.3, ["health"])
    custom = arm_config(train, "custom")
    assert (custom.arm, custom.trait_fraction, custom.include_domains) == ("custom", 0.3, ["law"])
    health.include_domains.append("law")  # a config's lists are its own, never the registry's
    assert ARMS["health_only"].data["include_domains"] == ["health"]
    with pytest.raises(UserError, match="unknown arm 'nope'; allowed: baseline, trait"):
        arm_config(train, "nope")


def test_register_arm_refuses_duplicates_non_data_fields_and_a_second_control():
    from traitrl.train.arms import ARMS, register_arm

    before = dict(ARMS)
    with pytest.raises(ValueError, match="'trait' is already registered"):
        register_arm("trait")(lambda: {})
    with pytest.raises(ValueError, match=r"sets \['steps'\]; an arm may change only the data mixture"):
        register_arm("longer")(lambda: {"steps": 10})
    with pytest.raises(ValueError, match="already a control arm"):
        register_arm("other_control", control=True)(lambda: {"trait_fraction": 0.0})
    assert ARMS == before


def test_config_models_import_no_heavy_module():
    import subprocess
    import sys

    code = ("import sys, traitrl.config; heavy = ('torch', 'transformers', 'trl', 'openai', 'peft', 'datasets'); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


def test_arms_carry_what_reports_say_about_them():
    from traitrl.train.arms import ARMS, register_arm

    assert (ARMS["health_only"].label, ARMS["health_only"].held_out) == ("health only", "non_health")
    assert (ARMS["no_health_science"].trait_data, ARMS["no_health_science"].held_out) == ("all but health and science", "health")
    assert ARMS["baseline"].trait_data is None and ARMS["baseline"].label == "baseline"
    with pytest.raises(ValueError, match="held_out must be health or non_health"):
        register_arm("law_only", held_out="law")(lambda: {"include_domains": ["law"]})
    assert "law_only" not in ARMS
# ---- secrets, strict values (see also tests/test_bad_inputs.py) ---------------------------------

@pytest.mark.parametrize(("text", "secret"), [
    ("sk-proj-Q2w3E4r5T6y7U8i9O0pA", True), ("Bearer abc.def", True), ("https://me:pw@host/v1", True),
    ("hf_AbCdEfGhIjKlMnOpQrStUv", True), ("aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3f", True),
    ("OPENAI_API_KEY", False), ("https://api.openai.com/v1", False), ("sycophancy.opinion.finance", False),
    ("0123456789abcdef" * 4, False), ("/tmp/pytest-of-root/pytest-3/test_bad_setting_is_refused_be21/run", False),
])
def test_what_looks_like_a_secret(text, secret):
    from traitrl.errors import looks_like_secret, redact

    assert looks_like_secret(text) is secret
    assert (redact(f"got {text}!") != f"got {text}!") is secret


def test_a_secret_in_an_override_is_redacted_in_every_line_of_the_message():
    key = "sk-live-9xQ2mV7nB4cZ8aL1"
    with pytest.raises(UserError) as err:
        load_config(None, [f"judge.api_key_env={key}", f"judge.api_key_env={key}", "judge.max_concurrency=0"])
    text = str(err.value)
    assert key not in text and text.count("<redacted>") == 3  # two in the source line, one in the error
    assert "judge.max_concurrency" in text and "(got 0)" in text


def test_numbers_are_strict_but_yaml_exponents_still_read():
    assert load_config(None, ["train.learning_rate=1e-4"]).train.learning_rate == pytest.approx(1e-4)
    assert load_config(None, ["train.lora.enabled=true"]).train.lora.enabled is True
    for bad in ("train.steps=true", "train.learning_rate=.inf", "evals.sampling.top_p=.nan", "train.seed=false"):
        with pytest.raises(UserError, match=bad.split("=")[0].replace(".", r"\.")):
            load_config(None, [bad])


def test_duplicate_keys_name_both_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("world:\n  seed: 1\nscenarios:\n  seed: 2\n  per_cell: 3\n  seed: 4\n")
    with pytest.raises(UserError, match=r"c\.yaml:6: duplicate key 'seed' \(first on line 4\)"):
        load_config(path)
