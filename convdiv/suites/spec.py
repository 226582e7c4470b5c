"""Suite specs: which checkpoints a suite holds and where each one is loaded from.

A *suite* is a grid of training runs: sizes m x seeds s, each with checkpoints at steps t. A spec resolves every
(m, s, t) to a :class:`CheckpointRef` that ``from_pretrained`` can load:

- **hub** suites (Pythia, PolyPythias): one repository per run, e.g. ``EleutherAI/pythia-70m-seed3``, one git
  branch per checkpoint, ``revision="step1000"``;
- **local** suites: a folder laid out as ``<root>/<size>/seed<k>/step<N>/`` (``save_pretrained`` output, safetensors),
  the tokenizer in ``<root>/tokenizer/`` and optionally a ``<root>/suite.toml`` naming sizes/seeds/steps.

Sources of a spec, in the order :func:`get_suite` tries them: the built-ins ``pythia`` and ``polypythias``; ``demo``
and ``demo-quick`` (trained locally by ``convdiv suite train demo``); a ``.toml`` spec file; a local suite folder;
a suite folder by name under ``settings.suites_dir``.

Spec file format (TOML; every key optional except where noted)::

    name = "pythia-small"            # default: the file's stem (or the folder name for a local suite)
    base = "pythia"                  # start from a built-in and narrow it; or give source/tokenizer/... yourself
    source = "local"                 # 'hub' | 'local' (required without base)
    tokenizer = "tokenizer"          # hub id, or a folder (relative paths: from the spec file's folder)
    root = "."                       # local: the suite folder (default: the spec file's folder)
    sizes = ["14m", "70m"]           # ordered smallest -> largest
    seeds = [1, 3]
    steps = [0, 1, 2, 4, 1000]       # or "pythia" (the study's 20) / "polypythias" (all 154)
    repo = "EleutherAI/pythia-{size}-seed{seed}"   # hub: run repository template
    revision = "step{step}"                        # hub: checkpoint branch template
    [repo_overrides]                               # hub: a different template for some seeds
    0 = "EleutherAI/pythia-{size}"
    [revisions]                                    # hub: branch names no template fits (OLMo), step -> branch;
    0 = "stage1-step0-tokens0B"                    # every step of `steps` needs one (steps default: its keys)
    1000 = "stage1-step1000-tokens4B"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convdiv.config import Settings
from convdiv.errors import ConvdivError
from convdiv.suites.safetensors import safetensors_param_count

# Pythia's published checkpoint branches (Biderman et al., 2023): step 0, ten log-spaced steps 1..512, then every
# 1000 steps up to 143000 -> 154 checkpoints. PolyPythias (van der Wal et al., 2025) publishes the same 154.
LOG_STEPS = tuple(2**i for i in range(10))  # 1, 2, 4, ..., 512
POLYPYTHIAS_STEPS = (0, *LOG_STEPS, *range(1000, 143_001, 1000))
# The 20 checkpoints the study (Fehlauer et al., 2025) evaluates: log-spaced throughout, plus the final step.
PYTHIA_STUDY_STEPS = (0, *LOG_STEPS, *(1000 * 2**i for i in range(8)), 143_000)
PYTHIA_SIZES = ("14m", "31m", "70m", "160m", "410m")
STEP_PRESETS = {"pythia": PYTHIA_STUDY_STEPS, "polypythias": POLYPYTHIAS_STEPS}

PYTHIA_REPO = "EleutherAI/pythia-{size}-seed{seed}"
PYTHIA_REVISION = "step{step}"
# The tokenizer every Pythia model shares (GPT-NeoX-20B's BPE, 50,277 entries).
PYTHIA_TOKENIZER = "EleutherAI/pythia-70m"

SUITE_FILE = "suite.toml"
TOKENIZER_DIR = "tokenizer"
DEMO_SUITES = {"demo": "convdiv suite train demo", "demo-quick": "convdiv suite train demo --quick"}

_SPEC_KEYS = {
    "name",
    "base",
    "source",
    "tokenizer",
    "root",
    "sizes",
    "seeds",
    "steps",
    "repo",
    "revision",
    "repo_overrides",
    "revisions",
    "description",
}
_SEED_DIR = re.compile(r"^seed(\d+)$")
_STEP_DIR = re.compile(r"^step(\d+)$")


@dataclass(frozen=True)
class CheckpointRef:
    """One checkpoint (m, s, t) and how to load it."""

    size: str
    seed: int
    step: int
    source: str  # run identity: hub repo id ("EleutherAI/pythia-70m-seed3") or the local run folder
    path: str  # what from_pretrained gets: hub id or the local step folder
    revision: str | None  # "step1000" for hub, None for local

    @property
    def label(self) -> str:
        """Human name used in every message: ``70m/seed3/step1000``."""
        return f"{self.size}/seed{self.seed}/step{self.step}"

    def describe(self) -> str:
        where = f"{self.path}@{self.revision}" if self.revision else self.path
        return f"checkpoint {self.label} ({where})"


@dataclass(frozen=True)
class SuiteSpec:
    """A resolved suite: the grid sizes x seeds x steps plus the rule that maps a cell to a checkpoint."""

    name: str
    source: str  # 'hub' | 'local'
    tokenizer: str  # hub id or local folder
    sizes: tuple[str, ...]  # ordered smallest -> largest
    seeds: tuple[int, ...]  # sorted ascending
    steps: tuple[int, ...]  # sorted ascending
    root: str | None = None  # local: the suite folder
    repo: str = PYTHIA_REPO  # hub: run repository template ({size}, {seed})
    revision: str = PYTHIA_REVISION  # hub: checkpoint branch template ({step})
    repo_overrides: tuple[tuple[int, str], ...] = ()  # hub: (seed, template) pairs
    revisions: tuple[tuple[int, str], ...] = ()  # hub: (step, branch) pairs; they take precedence over `revision`
    description: str = ""
    origin: str = field(default="", compare=False)  # where the spec came from (built-in, file path)

    def __post_init__(self) -> None:
        if self.source not in ("hub", "local"):
            raise ConvdivError(f"suite {self.name!r}: source must be 'hub' or 'local', not {self.source!r}")
        if self.source == "local" and not self.root:
            raise ConvdivError(f"suite {self.name!r}: a local suite needs a root folder")
        for what, values in (("sizes", self.sizes), ("seeds", self.seeds), ("steps", self.steps)):
            if not values:
                raise ConvdivError(f"suite {self.name!r}: no {what}")
            if len(set(values)) != len(values):
                raise ConvdivError(f"suite {self.name!r}: duplicate {what} in {list(values)}")
        if list(self.seeds) != sorted(self.seeds) or list(self.steps) != sorted(self.steps):
            raise ConvdivError(f"suite {self.name!r}: seeds and steps must be sorted ascending")
        if any(s < 0 for s in self.steps) or any(s < 0 for s in self.seeds):
            raise ConvdivError(f"suite {self.name!r}: seeds and steps must be >= 0")

    # ---------------------------------------------------------------------------------------- resolution

    def root_path(self) -> Path:
        """A local suite's folder."""
        if self.root is None:
            raise ConvdivError(f"suite {self.name!r} is a hub suite: it has no root folder")
        return Path(self.root)

    def run_source(self, size: str, seed: int) -> str:
        """The run's identity: its hub repository, or its local folder ``<root>/<size>/seed<k>``."""
        if self.source == "hub":
            template = dict(self.repo_overrides).get(seed, self.repo)
            return template.format(size=size, seed=seed)
        return str(self.root_path() / size / f"seed{seed}")

    def branch(self, step: int) -> str:
        """A hub checkpoint's branch: the ``[revisions]`` entry for the step, else the ``revision`` template."""
        return dict(self.revisions).get(step) or self.revision.format(step=step)

    def ref(self, size: str, seed: int, step: int) -> CheckpointRef:
        run = self.run_source(size, seed)
        if self.source == "hub":
            return CheckpointRef(size, seed, step, run, run, self.branch(step))
        return CheckpointRef(size, seed, step, run, str(Path(run) / f"step{step}"), None)

    def checkpoints(
        self,
        sizes: Iterable[str] | None = None,
        seeds: Iterable[int] | None = None,
        steps: Iterable[int] | None = None,
    ) -> list[CheckpointRef]:
        """Every checkpoint in the selection, ordered by size (spec order), seed, step.

        ``None`` selects everything; an unknown size/seed/step raises a ConvdivError naming it.
        """
        pick_sizes = self._select("size", self.sizes, sizes, str)
        pick_seeds = self._select("seed", self.seeds, seeds, int)
        pick_steps = self._select("step", self.steps, steps, int)
        return [self.ref(m, s, t) for m in pick_sizes for s in pick_seeds for t in pick_steps]

    def _select(self, what: str, known: tuple, wanted: Iterable | None, cast) -> tuple:
        if wanted is None:
            return known
        if isinstance(wanted, (str, int)):
            wanted = [wanted]
        picked = []
        for value in wanted:
            try:
                value = cast(value)
            except (TypeError, ValueError):
                raise ConvdivError(f"suite {self.name!r}: {what} {value!r} is not a valid {what}") from None
            if value not in known:
                shown = ", ".join(str(v) for v in known)
                raise ConvdivError(f"suite {self.name!r} has no {what} {value!r} (known {what}s: {shown})")
            if value not in picked:
                picked.append(value)
        # Keep the spec's order (sizes smallest -> largest, seeds/steps ascending) whatever order was asked.
        return tuple(v for v in known if v in picked)

    def size_rank(self, size: str) -> int:
        """0 for the smallest size."""
        return self.sizes.index(size)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (stored in ``suite.spec``); :func:`spec_from_dict` reads it back."""
        out: dict[str, Any] = {
            "name": self.name,
            "source": self.source,
            "tokenizer": self.tokenizer,
            "sizes": list(self.sizes),
            "seeds": list(self.seeds),
            "steps": list(self.steps),
        }
        if self.source == "hub":
            out["repo"] = self.repo
            out["revision"] = self.revision
            if self.repo_overrides:
                out["repo_overrides"] = {str(k): v for k, v in self.repo_overrides}
            if self.revisions:
                out["revisions"] = {str(k): v for k, v in self.revisions}
        else:
            out["root"] = self.root
        if self.description:
            out["description"] = self.description
        return out


# -------------------------------------------------------------------------------------------- built-ins


def pythia_spec() -> SuiteSpec:
    """The study's setup: five sizes, seeds 1, 3, 5, 7, 9 of PolyPythias, the 20 log-spaced steps."""
    return SuiteSpec(
        name="pythia",
        source="hub",
        tokenizer=PYTHIA_TOKENIZER,
        sizes=PYTHIA_SIZES,
        seeds=(1, 3, 5, 7, 9),
        steps=PYTHIA_STUDY_STEPS,
        description="Fehlauer et al. (2025): PolyPythias seeds 1,3,5,7,9 at 20 log-spaced steps",
        origin="built-in",
    )


def polypythias_spec() -> SuiteSpec:
    """All of PolyPythias: seeds 0-9 (seed 0 is the original Pythia run) and all 154 checkpoints."""
    return SuiteSpec(
        name="polypythias",
        source="hub",
        tokenizer=PYTHIA_TOKENIZER,
        sizes=PYTHIA_SIZES,
        seeds=tuple(range(10)),
        steps=POLYPYTHIAS_STEPS,
        repo_overrides=((0, "EleutherAI/pythia-{size}"),),
        description="PolyPythias (van der Wal et al., 2025): seeds 0-9, 154 checkpoints each",
        origin="built-in",
    )


BUILTINS = {"pythia": pythia_spec, "polypythias": polypythias_spec}


# -------------------------------------------------------------------------------------------- resolution


def get_suite(name_or_path: str, settings: Settings) -> SuiteSpec:
    """Resolve a suite name, spec file or folder to a :class:`SuiteSpec` (see the module docstring)."""
    key = str(name_or_path).strip()
    if key in BUILTINS:
        return BUILTINS[key]()
    if key in DEMO_SUITES:
        root = settings.suites_dir / key
        if not (root / SUITE_FILE).is_file():
            raise ConvdivError(f"suite {key!r} is not trained yet ({root}): run `{DEMO_SUITES[key]}`")
        return local_spec(root, name=key)
    path = Path(key).expanduser()
    if path.suffix == ".toml":
        if not path.is_file():
            raise ConvdivError(f"suite spec file not found: {path}")
        return load_spec_file(path)
    if path.is_dir():
        return local_spec(path)
    named = settings.suites_dir / key
    if key and "/" not in key and named.is_dir():
        return local_spec(named, name=key)
    known = ", ".join([*BUILTINS, *DEMO_SUITES])
    raise ConvdivError(f"unknown suite {key!r}: expected one of {known}, a .toml spec file or a local suite folder")


def load_spec_file(path: Path) -> SuiteSpec:
    """Read a TOML spec file; relative folders in it are taken from the file's folder."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConvdivError(f"suite spec {path}: malformed TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConvdivError(f"suite spec {path}: cannot read: {exc}") from None
    return spec_from_dict(data, origin=str(path), base_dir=path.parent.resolve(), default_name=path.stem)


def spec_from_dict(
    data: dict[str, Any], *, origin: str = "dict", base_dir: Path | None = None, default_name: str = "suite"
) -> SuiteSpec:
    """Build a spec from its dict form (a parsed TOML file or :meth:`SuiteSpec.to_dict` output)."""
    where = f"suite spec {origin}"
    unknown = sorted(set(data) - _SPEC_KEYS)
    if unknown:
        raise ConvdivError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_SPEC_KEYS))})")
    base: SuiteSpec | None = None
    if "base" in data:
        if data["base"] not in BUILTINS:
            raise ConvdivError(f"{where}: base must be one of {', '.join(BUILTINS)}, not {data['base']!r}")
        base = BUILTINS[data["base"]]()
    r = _SpecReader(data, where, base_dir)

    name = r.text_or("name", default_name)  # a narrowed built-in is a different selection: its own name
    source = r.text("source", base.source if base else None)
    if source is None:
        raise ConvdivError(f"{where}: missing key source ('hub' or 'local') or base")
    if source not in ("hub", "local"):
        raise ConvdivError(f"{where}: source must be 'hub' or 'local', not {source!r}")
    root = None
    if source == "local":
        root_text = r.text("root", ".") if base_dir is not None else r.text("root")
        if root_text is None:
            raise ConvdivError(f"{where}: a local suite needs root")
        root = r.folder(root_text)
    tokenizer = _tokenizer(r, base, root)
    sizes, seeds, steps, revisions = _grid(r, base, source, root)
    overrides, repo, revision = _templates(r, base)
    lacking = [step for step in steps if revisions and step not in dict(revisions)]
    if lacking:
        raise ConvdivError(
            f'{where}: [revisions] has no branch for step {lacking[0]} of steps: add `{lacking[0]} = "<branch>"` '
            "or leave the step out of steps"
        )
    return SuiteSpec(
        name=name,
        source=source,
        tokenizer=tokenizer,
        sizes=tuple(sizes),
        seeds=tuple(sorted(seeds)),
        steps=tuple(sorted(steps)),
        root=root,
        repo=repo,
        revision=revision,
        repo_overrides=overrides,
        revisions=revisions,
        description=r.text("description", base.description if base else "") or "",
        origin=origin,
    )


@dataclass(frozen=True)
class _SpecReader:
    """Typed reads of a spec's dict form; errors name the spec (``where``) and the key."""

    data: dict[str, Any]
    where: str
    base_dir: Path | None

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.data.get(key, default)
        if value is not None and not isinstance(value, str):
            raise ConvdivError(f"{self.where}: {key} must be a string, not {value!r}")
        return value

    def text_or(self, key: str, default: str) -> str:
        value = self.text(key, default)
        if value is None:  # an explicit null (JSON)
            raise ConvdivError(f"{self.where}: {key} must be a string, not null")
        return value

    def folder(self, value: str) -> str:
        """A folder of the spec, relative ones taken from ``base_dir`` (the spec file's folder)."""
        p = Path(value).expanduser()
        if not p.is_absolute() and self.base_dir is not None:
            p = self.base_dir / p
        return str(p.resolve()) if (p.is_absolute() or self.base_dir is not None) else str(p)


def _tokenizer(r: _SpecReader, base: SuiteSpec | None, root: str | None) -> str:
    """The spec's tokenizer: as given (a folder resolved like root), else the base's, else the local suite's own."""
    tokenizer = r.text("tokenizer")
    if tokenizer is None:
        if base is not None:
            return base.tokenizer
        if root is not None:  # a local suite
            return str(Path(root) / TOKENIZER_DIR)
        raise ConvdivError(f"{r.where}: missing key tokenizer")
    if _looks_local(tokenizer, r.base_dir):  # else a hub id, also for a local suite (e.g. Pythia copies)
        return r.folder(tokenizer)
    return tokenizer


def _grid(
    r: _SpecReader, base: SuiteSpec | None, source: str, root: str | None
) -> tuple[Iterable[str], Iterable[int], Iterable[int], tuple[tuple[int, str], ...]]:
    """Sizes, seeds, steps and hub revisions: as given (steps also as a preset or from [revisions]), checked
    against the built-in they narrow, else the base's, else found in the local suite's folder."""
    where = r.where
    sizes = _list_of(r.data, "sizes", str, where, base.sizes if base else None)
    seeds = _list_of(r.data, "seeds", int, where, base.seeds if base else None)
    steps_value = r.data.get("steps")
    steps: tuple[int, ...] | None
    if isinstance(steps_value, str):
        if steps_value not in STEP_PRESETS:
            raise ConvdivError(f"{where}: steps preset must be one of {', '.join(STEP_PRESETS)}, not {steps_value!r}")
        steps = STEP_PRESETS[steps_value]
    else:
        steps = _list_of(r.data, "steps", int, where, base.steps if base else None)
    revisions = _revisions(r.data, where, source)
    if steps is None and revisions:
        steps = tuple(sorted(step for step, _ in revisions))
    if base is not None:
        # Narrowing a built-in: every value must exist in it (a typo must not silently ask the hub for it).
        for what, values, known in (
            ("size", sizes, base.sizes),
            ("seed", seeds, base.seeds),
            ("step", steps, base.steps),
        ):
            bad = [v for v in values if v not in known]
            if bad:
                raise ConvdivError(f"{where}: {base.name} has no {what} {bad[0]!r}")
        sizes = tuple(s for s in base.sizes if s in sizes)  # keep smallest -> largest
    if sizes is None or seeds is None or steps is None:
        if source == "local" and root is not None:
            found = scan_local(Path(root))
            sizes = sizes if sizes is not None else found[0]
            seeds = seeds if seeds is not None else found[1]
            steps = steps if steps is not None else found[2]
        else:
            missing = [k for k, v in (("sizes", sizes), ("seeds", seeds), ("steps", steps)) if v is None]
            raise ConvdivError(f"{where}: missing key(s) {', '.join(missing)}")
    return sizes, seeds, steps, revisions


def _templates(r: _SpecReader, base: SuiteSpec | None) -> tuple[tuple[tuple[int, str], ...], str, str]:
    """The hub's repo and revision templates and the per-seed repo overrides, each checked to format."""
    where = r.where
    overrides_raw = r.data.get("repo_overrides", dict(base.repo_overrides) if base else {})
    if not isinstance(overrides_raw, dict):
        raise ConvdivError(f'{where}: repo_overrides must be a table seed = "template"')
    try:
        overrides = tuple(sorted((int(k), str(v)) for k, v in overrides_raw.items()))
    except ValueError:
        raise ConvdivError(f"{where}: repo_overrides keys must be seeds (integers)") from None

    repo = r.text_or("repo", base.repo if base else PYTHIA_REPO)
    revision = r.text_or("revision", base.revision if base else PYTHIA_REVISION)
    for template in (repo, revision, *(t for _, t in overrides)):
        try:
            template.format(size="x", seed=0, step=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConvdivError(
                f"{where}: bad template {template!r} (placeholders: {{size}}, {{seed}}, {{step}}): {exc}"
            ) from None
    return overrides, repo, revision


def _revisions(data: dict, where: str, source: str) -> tuple[tuple[int, str], ...]:
    """The ``[revisions]`` table (step -> branch name) as sorted (step, branch) pairs; one line naming a bad key."""
    if "revisions" not in data:
        return ()
    table = data["revisions"]
    if source != "hub":
        raise ConvdivError(f"{where}: [revisions] names hub branches: a local suite has none")
    if not isinstance(table, dict) or not table:
        raise ConvdivError(f'{where}: revisions must be a non-empty table step = "branch", not {table!r}')
    seen: dict[int, str] = {}
    for key, branch in table.items():
        text_key = str(key).strip()
        if not (text_key.isascii() and text_key.isdigit()):
            raise ConvdivError(f"{where}: [revisions] key {key!r} is not a step (a whole number >= 0)")
        step = int(text_key)
        if step in seen:
            raise ConvdivError(f"{where}: [revisions] key {key!r} repeats step {step} (given as {seen[step]!r} too)")
        if not isinstance(branch, str) or not branch.strip():
            raise ConvdivError(f"{where}: [revisions] key {key!r} must name a branch (a string), not {branch!r}")
        seen[step] = key
    return tuple(sorted((int(str(k).strip()), v.strip()) for k, v in table.items()))


def _looks_local(value: str, base_dir: Path | None) -> bool:
    """A tokenizer value is a folder if it starts like a path or names an existing folder."""
    if value.startswith((".", "/", "~")):
        return True
    return base_dir is not None and (base_dir / value).is_dir()


def _list_of(data: dict, key: str, cast, where: str, default):
    if key not in data:
        return default
    value = data[key]
    if not isinstance(value, list) or not value:
        raise ConvdivError(f"{where}: {key} must be a non-empty list, not {value!r}")
    out = []
    for item in value:
        if cast is int and (isinstance(item, bool) or not isinstance(item, int)):
            raise ConvdivError(f"{where}: {key} must hold integers, found {item!r}")
        if cast is str and not isinstance(item, (str, int)):
            raise ConvdivError(f"{where}: {key} must hold strings, found {item!r}")
        out.append(cast(item))
    if len(set(out)) != len(out):
        raise ConvdivError(f"{where}: duplicate {key} in {out}")
    return tuple(out)


# -------------------------------------------------------------------------------------------- local suites


def local_spec(root: Path, name: str | None = None) -> SuiteSpec:
    """A local suite folder: its ``suite.toml`` if present, else the grid found on disk."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise ConvdivError(f"local suite folder not found: {root}")
    spec_file = root / SUITE_FILE
    if spec_file.is_file():
        spec = load_spec_file(spec_file)
        if spec.source != "local" or spec.root_path().resolve() != root:
            raise ConvdivError(f"{spec_file}: a suite folder's suite.toml must describe the local suite in it")
        if name and name != spec.name:
            from dataclasses import replace

            spec = replace(spec, name=name)
        return spec
    sizes, seeds, steps = scan_local(root)
    return SuiteSpec(
        name=name or root.name,
        source="local",
        tokenizer=str(root / TOKENIZER_DIR),
        sizes=sizes,
        seeds=seeds,
        steps=steps,
        root=str(root),
        origin=str(root),
    )


def scan_local(root: Path) -> tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    """Sizes, seeds and steps present under ``<root>/<size>/seed<k>/step<N>/`` (union over runs).

    A ragged grid is allowed here; loading a checkpoint that is absent then fails naming it.
    """
    root = Path(root)
    sizes: list[str] = []
    seeds: set[int] = set()
    steps: set[int] = set()
    for size_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name != TOKENIZER_DIR):
        runs = [(p, m) for p in size_dir.iterdir() if p.is_dir() and (m := _SEED_DIR.match(p.name))]
        if not runs:
            continue
        sizes.append(size_dir.name)
        for run, seed in runs:
            seeds.add(int(seed.group(1)))
            steps.update(int(m.group(1)) for p in run.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name)))
    if not sizes or not steps:
        raise ConvdivError(f"local suite {root}: no checkpoints found (expected <size>/seed<k>/step<N>/ folders)")
    if not (root / TOKENIZER_DIR).is_dir():
        raise ConvdivError(f"local suite {root}: tokenizer folder missing ({root / TOKENIZER_DIR})")
    return tuple(order_sizes(root, sizes)), tuple(sorted(seeds)), tuple(sorted(steps))


_SIZE_LABEL = re.compile(r"^(\d+(?:\.\d+)?)([kmbt])$", re.IGNORECASE)
_SIZE_UNIT = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


def size_label_params(label: str) -> float | None:
    """The parameter count a size label names ('70m' -> 70e6, '1.4b' -> 1.4e9), None for other labels."""
    m = _SIZE_LABEL.match(label)
    return float(m.group(1)) * _SIZE_UNIT[m.group(2).lower()] if m else None


def order_sizes(root: Path, sizes: list[str]) -> list[str]:
    """Smallest -> largest: by the label when all look like '70m'/'1.4b', else by parameter count on disk."""
    named = [size_label_params(s) for s in sizes]
    if all(n is not None for n in named):
        return [s for _, s in sorted(zip(named, sizes))]
    return sorted(sizes, key=lambda s: (_params_on_disk(Path(root) / s), s))


def _params_on_disk(size_dir: Path) -> int:
    """Parameter count of the first checkpoint under a size folder, read from safetensors headers only."""
    for run in sorted(size_dir.glob("seed*")):
        for step in sorted(run.glob("step*")):
            n = safetensors_param_count(step)
            if n is not None:
                return n
    return 0


def write_suite_file(spec: SuiteSpec, path: Path | None = None) -> Path:
    """Write a local spec as ``<root>/suite.toml`` with folders relative to the root (the suite stays movable)."""
    if spec.source != "local":
        raise ConvdivError(f"suite {spec.name!r}: only local suites are written as suite.toml")
    root = spec.root_path()
    path = path or root / SUITE_FILE
    tokenizer = Path(spec.tokenizer)
    try:
        tokenizer_str = str(tokenizer.relative_to(root))
    except ValueError:
        tokenizer_str = str(tokenizer)
    lines = [
        f"name = {_toml_str(spec.name)}",
        'source = "local"',
        f"tokenizer = {_toml_str(tokenizer_str)}",
        'root = "."',
        f"sizes = [{', '.join(_toml_str(s) for s in spec.sizes)}]",
        f"seeds = [{', '.join(str(s) for s in spec.seeds)}]",
        f"steps = [{', '.join(str(s) for s in spec.steps)}]",
    ]
    if spec.description:
        lines.append(f"description = {_toml_str(spec.description)}")
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a suite.toml marks a complete suite
    return path


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
