"""Suite specs: built-ins, TOML spec files, local folders, selection and errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from convdiv.config import Settings
from convdiv.errors import ConvdivError
from convdiv.suites.spec import (
    CheckpointRef,
    SuiteSpec,
    get_suite,
    load_spec_file,
    local_spec,
    spec_from_dict,
    write_suite_file,
)

ROOT = Path(__file__).resolve().parents[1]
# The console script's entry point, run as a user would (not `-m convdiv.cli`, which imports cli twice).
CONVDIV = [sys.executable, "-c", "from convdiv.cli import main; main()"]


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    return Settings.from_env(data_dir=tmp_path / "data")


def fake_local_suite(root: Path, sizes=("70m", "14m"), seeds=(1, 2), steps=(0, 8, 1)) -> Path:
    """Folder layout only (no weights): enough for spec resolution."""
    (root / "tokenizer").mkdir(parents=True)
    for size in sizes:
        for seed in seeds:
            for step in steps:
                (root / size / f"seed{seed}" / f"step{step}").mkdir(parents=True)
    return root


# ---------------------------------------------------------------------------------------------- built-ins


def test_pythia_builtin_is_the_study_setup(cfg):
    spec = get_suite("pythia", cfg)
    assert spec.source == "hub"
    assert spec.sizes == ("14m", "31m", "70m", "160m", "410m")
    assert spec.seeds == (1, 3, 5, 7, 9)
    # The study's 20 steps, written out independently of the code's formula.
    assert spec.steps == (
        0,
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        512,
        1000,
        2000,
        4000,
        8000,
        16000,
        32000,
        64000,
        128000,
        143000,
    )
    refs = spec.checkpoints()
    assert len(refs) == 5 * 5 * 20
    ref = spec.checkpoints(sizes=["70m"], seeds=[3], steps=[1000])
    assert ref == [
        CheckpointRef("70m", 3, 1000, "EleutherAI/pythia-70m-seed3", "EleutherAI/pythia-70m-seed3", "step1000")
    ]


def test_polypythias_builtin_has_154_checkpoints_and_seed0_is_the_original(cfg):
    spec = get_suite("polypythias", cfg)
    assert spec.seeds == tuple(range(10))
    assert len(spec.steps) == 154
    assert spec.steps[:11] == (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
    assert [s for s in spec.steps if s >= 1000] == [1000 * k for k in range(1, 144)]
    original = spec.checkpoints(sizes="410m", seeds=0, steps=143000)[0]
    assert (original.path, original.revision) == ("EleutherAI/pythia-410m", "step143000")
    assert spec.checkpoints(sizes="410m", seeds=9, steps=0)[0].path == "EleutherAI/pythia-410m-seed9"


def test_selection_keeps_spec_order_and_orders_refs_by_size_seed_step(cfg):
    spec = get_suite("pythia", cfg)
    refs = spec.checkpoints(sizes=["160m", "14m"], seeds=[9, 1], steps=[2, 0])
    assert [(r.size, r.seed, r.step) for r in refs] == [
        ("14m", 1, 0),
        ("14m", 1, 2),
        ("14m", 9, 0),
        ("14m", 9, 2),
        ("160m", 1, 0),
        ("160m", 1, 2),
        ("160m", 9, 0),
        ("160m", 9, 2),
    ]


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"sizes": ["1b"]}, "size '1b'"),
        ({"seeds": [2]}, "seed 2"),
        ({"steps": [3000]}, "step 3000"),
        ({"seeds": ["x"]}, "'x'"),
    ],
)
def test_unknown_size_seed_step_is_named(cfg, kwargs, named):
    with pytest.raises(ConvdivError) as err:
        get_suite("pythia", cfg).checkpoints(**kwargs)
    assert named in str(err.value) and "pythia" in str(err.value)


def test_dict_round_trip(cfg):
    for name in ("pythia", "polypythias"):
        spec = get_suite(name, cfg)
        assert spec_from_dict(spec.to_dict()) == spec


# ---------------------------------------------------------------------------------------------- spec files


def test_toml_narrows_a_builtin(tmp_path, cfg):
    path = tmp_path / "small.toml"
    path.write_text('base = "pythia"\nsizes = ["70m", "14m"]\nseeds = [1, 3]\nsteps = [0, 512, 143000]\n')
    spec = get_suite(str(path), cfg)
    assert spec.name == "small"
    assert spec.sizes == ("14m", "70m")  # smallest -> largest whatever the file's order
    assert len(spec.checkpoints()) == 2 * 2 * 3
    assert spec.checkpoints()[0].revision == "step0"


def test_toml_hub_suite_with_templates_and_preset(tmp_path, cfg):
    path = tmp_path / "custom.toml"
    path.write_text(
        'name = "mine"\nsource = "hub"\ntokenizer = "org/tok"\nsizes = ["a", "b"]\nseeds = [0, 4]\n'
        'steps = "polypythias"\nrepo = "org/model-{size}-s{seed}"\nrevision = "ckpt-{step}"\n'
        '[repo_overrides]\n0 = "org/model-{size}"\n'
    )
    spec = load_spec_file(path)
    assert len(spec.steps) == 154
    a0, b4 = spec.checkpoints(sizes="a", seeds=0, steps=1000)[0], spec.checkpoints(sizes="b", seeds=4, steps=2)[0]
    assert (a0.path, a0.revision) == ("org/model-a", "ckpt-1000")
    assert (b4.path, b4.revision) == ("org/model-b-s4", "ckpt-2")
    assert spec_from_dict(spec.to_dict()) == spec


def test_toml_local_suite_relative_root(tmp_path, cfg):
    fake_local_suite(tmp_path / "runs")
    path = tmp_path / "local.toml"
    path.write_text('source = "local"\nroot = "runs"\nsizes = ["14m", "70m"]\nseeds = [1]\nsteps = [0, 8]\n')
    spec = get_suite(str(path), cfg)
    assert spec.root == str((tmp_path / "runs").resolve())
    assert spec.tokenizer == str((tmp_path / "runs" / "tokenizer").resolve())
    ref = spec.checkpoints(sizes="70m", seeds=1, steps=8)[0]
    assert ref.path == str((tmp_path / "runs" / "70m" / "seed1" / "step8").resolve())
    assert ref.source == str((tmp_path / "runs" / "70m" / "seed1").resolve()) and ref.revision is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("sizes = [1, 2", "malformed TOML"),
        ('base = "pythia"\ncolour = "red"\n', "unknown key(s) colour"),
        ('base = "gpt2"\n', "base must be one of"),
        ('sizes = ["a"]\nseeds = [1]\nsteps = [0]\n', "missing key source"),
        ('source = "ftp"\n', "source must be 'hub' or 'local'"),
        ('base = "pythia"\nsizes = ["1b"]\n', "pythia has no size '1b'"),
        ('base = "pythia"\nsteps = [3]\n', "pythia has no step 3"),
        ('base = "pythia"\nseeds = []\n', "seeds must be a non-empty list"),
        ('base = "pythia"\nseeds = ["one"]\n', "seeds must hold integers"),
        ('base = "pythia"\nsteps = "every-other"\n', "steps preset must be one of"),
        ('source = "hub"\ntokenizer = "t"\nsizes = ["a"]\nseeds = [1, 1]\nsteps = [0]\n', "duplicate seeds"),
        ('source = "hub"\ntokenizer = "t"\nsizes = ["a"]\nseeds = [1]\n', "missing key(s) steps"),
        ('base = "pythia"\nrepo = "org/{model}"\n', "bad template"),
    ],
)
def test_malformed_spec_file_names_the_file(tmp_path, cfg, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConvdivError) as err:
        get_suite(str(path), cfg)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_spec_file(tmp_path, cfg):
    with pytest.raises(ConvdivError, match="spec file not found"):
        get_suite(str(tmp_path / "nope.toml"), cfg)


# ---------------------------------------------------------------------------------------------- local folders


def test_local_folder_is_scanned_and_sizes_ordered(tmp_path, cfg):
    root = fake_local_suite(tmp_path / "suiteA", sizes=("1.4b", "70m", "410m"), seeds=(3, 1), steps=(16, 0, 2))
    spec = get_suite(str(root), cfg)
    assert spec.name == "suiteA" and spec.source == "local"
    assert spec.sizes == ("70m", "410m", "1.4b")
    assert spec.seeds == (1, 3) and spec.steps == (0, 2, 16)


def test_local_suite_by_name_under_suites_dir_and_suite_toml(cfg):
    root = fake_local_suite(cfg.suites_dir / "mine")
    spec = get_suite("mine", cfg)
    assert spec.root == str(root.resolve())
    narrowed = SuiteSpec(**{**spec.__dict__, "steps": (0, 8), "name": "mine", "description": "two steps"})
    write_suite_file(narrowed)
    again = local_spec(root)
    assert again.steps == (0, 8) and again.description == "two steps"
    assert again == narrowed


def test_local_folder_without_checkpoints_or_tokenizer(tmp_path, cfg):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConvdivError, match="no checkpoints found"):
        get_suite(str(tmp_path / "empty"), cfg)
    root = fake_local_suite(tmp_path / "notok")
    (root / "tokenizer").rmdir()
    with pytest.raises(ConvdivError, match="tokenizer folder missing"):
        get_suite(str(root), cfg)


def test_demo_not_trained_says_how_to_train(cfg):
    with pytest.raises(ConvdivError, match=r"convdiv suite train demo`"):
        get_suite("demo", cfg)
    with pytest.raises(ConvdivError, match=r"convdiv suite train demo --quick"):
        get_suite("demo-quick", cfg)


def test_unknown_suite(cfg):
    with pytest.raises(ConvdivError, match="unknown suite 'gpt7'"):
        get_suite("gpt7", cfg)


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_show_resolves_pythia(cfg):
    from convdiv.cli import cli

    result = CliRunner().invoke(
        cli,
        ["--data-dir", str(cfg.data_dir), "suite", "show", "pythia", "--sizes", "70m", "--steps", "0,143000", "--json"],
    )
    assert result.exit_code == 0, result.output
    import json

    shown = json.loads(result.output)
    assert shown["checkpoints"] == 1 * 5 * 2 and shown["sizes"] == ["14m", "31m", "70m", "160m", "410m"]
    result = CliRunner().invoke(cli, ["--data-dir", str(cfg.data_dir), "suite", "show", "polypythias"])
    assert (
        result.exit_code == 0 and "EleutherAI/pythia-14m" in result.output and "checkpoints 7700" in result.output
    )  # 5 sizes x 10 seeds x 154


def test_cli_errors_are_one_line_and_exit_nonzero(tmp_path):
    env = {**os.environ, "CONVDIV_DATA_DIR": str(tmp_path / "data")}
    for args, named in ((["pythia", "--seeds", "2"], "seed 2"), (["nope"], "unknown suite 'nope'")):
        proc = subprocess.run(
            [*CONVDIV, "suite", "show", *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        assert proc.returncode != 0
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and named in lines[0], proc.stderr


def test_local_suite_may_name_a_hub_tokenizer(tmp_path, cfg):
    fake_local_suite(tmp_path / "copies")
    path = tmp_path / "copies.toml"
    path.write_text('source = "local"\nroot = "copies"\ntokenizer = "EleutherAI/pythia-70m"\n')
    spec = get_suite(str(path), cfg)
    assert spec.tokenizer == "EleutherAI/pythia-70m"
    assert spec.sizes == ("14m", "70m") and spec.steps == (0, 1, 8)  # the rest scanned from the folder


# ---------------------------------------------------------------------------------------------- [revisions]

OLMO_TOML = (
    'name = "olmo-like"\nsource = "hub"\ntokenizer = "org/tok"\nsizes = ["1b"]\nseeds = [1, 2]\n'
    'repo = "org/olmo-{size}-seed{seed}"\n'
    '[revisions]\n0 = "stage1-step0-tokens0B"\n1000 = "stage1-step1000-tokens4B"\n'
    '2000 = "stage1-step2000-tokens8B"\n'
)


def test_revisions_table_names_each_steps_branch(tmp_path, cfg):
    path = tmp_path / "olmo.toml"
    path.write_text(OLMO_TOML)
    spec = get_suite(str(path), cfg)
    assert spec.steps == (0, 1000, 2000)  # no steps key: the table's steps
    ref = spec.checkpoints(sizes="1b", seeds=2, steps=1000)[0]
    assert (ref.path, ref.revision) == ("org/olmo-1b-seed2", "stage1-step1000-tokens4B")
    assert spec_from_dict(spec.to_dict()) == spec  # stored in suite.spec and read back
    # A steps list narrows the table; the template is not used for a step the table names.
    path.write_text(OLMO_TOML.replace("[revisions]", 'steps = [2000]\nrevision = "step{step}"\n[revisions]'))
    assert [r.revision for r in get_suite(str(path), cfg).checkpoints()] == ["stage1-step2000-tokens8B"] * 2


def test_cli_show_prints_the_revisions(tmp_path, cfg):
    from convdiv.cli import cli

    path = tmp_path / "olmo.toml"
    path.write_text(OLMO_TOML)
    result = CliRunner().invoke(cli, ["--data-dir", str(cfg.data_dir), "suite", "show", str(path), "--steps", "0,1000"])
    assert result.exit_code == 0, result.output
    assert "step 0: stage1-step0-tokens0B" in result.output
    assert "step 1000: stage1-step1000-tokens4B" in result.output
    assert "stage1-step2000" not in result.output  # only the selected steps
    shown = CliRunner().invoke(cli, ["--data-dir", str(cfg.data_dir), "suite", "show", str(path), "--json"])
    import json

    assert json.loads(shown.output)["revisions"]["1000"] == "stage1-step1000-tokens4B"


@pytest.mark.parametrize(
    "table, message",
    [
        ('"first" = "main"\n', "[revisions] key 'first' is not a step"),
        ('"-1" = "x"\n', "[revisions] key '-1' is not a step"),
        ('1000 = "a"\n"01000" = "b"\n', "[revisions] key '01000' repeats step 1000"),
        ("0 = 5\n", "[revisions] key '0' must name a branch"),
        ('0 = "a"\n', "[revisions] has no branch for step 1000 of steps"),
    ],
)
def test_bad_revisions_table_names_the_key(tmp_path, cfg, table, message):
    path = tmp_path / "bad.toml"
    path.write_text(
        'source = "hub"\ntokenizer = "t"\nsizes = ["a"]\nseeds = [1]\nsteps = [0, 1000]\n[revisions]\n' + table
    )
    with pytest.raises(ConvdivError) as err:
        get_suite(str(path), cfg)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_readme_own_suite_example_resolves(tmp_path, cfg):
    """The README's "Your own suite" TOML example is a valid spec with the branches it shows."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Your own suite") :]
    example = section[section.index("```toml\n") + len("```toml\n") : section.index("```\n", section.index("```toml"))]
    path = tmp_path / "olmo-seeds.toml"
    path.write_text(example, encoding="utf-8")
    spec = get_suite(str(path), cfg)
    assert spec.steps == (0, 1000, 2000) and spec.seeds == (1, 2, 3)
    ref = spec.checkpoints(seeds=3, steps=1000)[0]
    assert (ref.path, ref.revision) == ("your-org/olmo-1b-seed3", "stage1-step1000-tokens4B")


def test_revisions_table_on_a_local_suite_is_refused(tmp_path, cfg):
    fake_local_suite(tmp_path / "runs")
    path = tmp_path / "local.toml"
    path.write_text('source = "local"\nroot = "runs"\n[revisions]\n0 = "main"\n')
    with pytest.raises(ConvdivError, match=r"\[revisions\] names hub branches: a local suite has none"):
        get_suite(str(path), cfg)
