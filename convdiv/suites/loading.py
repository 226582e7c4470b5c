"""Loading a suite's tokenizer and checkpoints, hub or local, through one code path.

Every checkpoint is loaded with ``AutoModelForCausalLM.from_pretrained(path, revision=...)``: for hub suites
``path`` is the run's repository and ``revision`` its ``step<N>`` branch; for local suites ``path`` is the step
folder. The weights' identity is the sha256 over the checkpoint's safetensors files (sorted by name, bytes
concatenated; :mod:`convdiv.suites.safetensors` computes it); it is recorded per checkpoint because some published Pythia branches hold identical weights for
different steps, which :func:`check_identical_weights` reports.

The effective vocabulary is ``len(tokenizer)``; models may produce wider logits (Pythia pads 50,277 -> 50,304)
which the extract engine slices (ce alone is over the full width); a model narrower than the tokenizer is refused
before any work (:func:`check_embedding_width`). The tokenizer must be one and the same across a suite: a local step folder that
carries its own tokenizer files must match the suite's (:func:`check_suite_tokenizer`).

Weights that hold NaN or infinite values are reported (:attr:`LoadedCheckpoint.nonfinite`): the check reads the
safetensors bytes while they are hashed anyway, so it also catches tensors the model never uses (padded vocabulary
rows, stale buffers) and costs no second read.

Hub checkpoints live in the ``huggingface_hub`` cache (``models--ORG--NAME/refs/<revision>`` holds the commit,
``snapshots/<commit>/<file>`` links to ``blobs/<hash>``). This module reads that layout directly to tell whether a
revision is cached (:func:`hub_revision_status`), how many bytes a selection of checkpoints takes
(:func:`checkpoint_disk_bytes`) and to delete one checkpoint's snapshot and the blobs no other snapshot shares
(:func:`evict_hub_checkpoint`). A download that fails for a reason that may pass (network, a partial file) is
retried (:data:`DOWNLOAD_ATTEMPTS`) before the one-line error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from convdiv.errors import ConvdivError
from convdiv.suites.safetensors import hash_weights, read_safetensors_header, safetensors_files, weights_sha256
from convdiv.suites.spec import CheckpointRef, SuiteSpec, size_label_params

TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")
# A hub download is tried this many times; a failure that cannot pass (no such repository or revision, a gated
# repository, a malformed config) is reported at once. Waits grow linearly: RETRY_DELAY_S, 2 x RETRY_DELAY_S, ...
DOWNLOAD_ATTEMPTS = 3
RETRY_DELAY_S = 5.0
_PERMANENT_HUB_ERRORS = (
    "RepositoryNotFoundError",
    "RevisionNotFoundError",
    "GatedRepoError",
    "RemoteEntryNotFoundError",
    "DisabledRepoError",
    "HFValidationError",
)
# Pythia publishes its checkpoints in float16: the bytes of a checkpoint not yet downloaded are estimated as
# 2 x its parameter count (read from the size label, 70m -> 70e6).
HUB_BYTES_PER_PARAM = 2


@dataclass
class LoadedCheckpoint:
    ref: CheckpointRef
    model: torch.nn.Module  # eval mode, on the requested device
    weights_sha256: str | None  # None when no weights file could be found
    n_params: int
    nonfinite: tuple[str, ...] = ()  # "tensor: n values" for every weight tensor holding NaN or inf

    def warnings(self) -> list[str]:
        """One line per checkpoint whose weights hold non-finite values (empty when all are finite)."""
        if not self.nonfinite:
            return []
        shown = "; ".join(self.nonfinite[:3]) + (
            f"; ... ({len(self.nonfinite) - 3} more)" if len(self.nonfinite) > 3 else ""
        )
        return [f"{self.ref.describe()}: non-finite weights (NaN/inf) in {len(self.nonfinite)} tensor(s): {shown}"]


# -------------------------------------------------------------------------------------------- tokenizer


def load_tokenizer(spec: SuiteSpec):
    """The suite's tokenizer (``AutoTokenizer``); for local suites, also checks every step folder's own copy."""
    tokenizer = _load_tokenizer(spec.tokenizer, f"suite {spec.name!r}")
    if spec.source == "local":
        check_suite_tokenizer(spec, tokenizer)
    return tokenizer


def _load_tokenizer(where: str, owner: str):
    from transformers import AutoTokenizer

    if _is_local(where) and not Path(where).is_dir():
        raise ConvdivError(f"{owner}: tokenizer folder not found: {where}")
    try:
        return AutoTokenizer.from_pretrained(where)
    # Broad on purpose: the tokenizers library raises a bare Exception for a malformed tokenizer.json, transformers
    # OSError, ValueError, KeyError or ImportError: no narrower class catches them all; the user needs one line.
    except Exception as exc:  # noqa: BLE001 - see above
        raise ConvdivError(f"{owner}: cannot load tokenizer {where}: {type(exc).__name__}: {exc}") from None


@lru_cache(maxsize=64)
def _fingerprint_of(folder: str, mtime_ns: int) -> str:
    from convdiv.vocab import tokenizer_fingerprint

    return tokenizer_fingerprint(_load_tokenizer(folder, f"tokenizer {folder}"))


def folder_fingerprint(folder: Path) -> str:
    """tokenizer_fingerprint of the tokenizer saved in a folder (cached while its files are unchanged)."""
    folder = Path(folder)
    mtime = max((folder / f).stat().st_mtime_ns for f in TOKENIZER_FILES if (folder / f).exists())
    return _fingerprint_of(str(folder), mtime)


def has_own_tokenizer(folder: Path) -> bool:
    return any((Path(folder) / f).is_file() for f in TOKENIZER_FILES)


def check_suite_tokenizer(spec: SuiteSpec, tokenizer=None, refs: Iterable[CheckpointRef] | None = None) -> str:
    """Refuse a local suite whose step folders carry a tokenizer different from the suite's; return its fingerprint.

    Only folders that actually carry tokenizer files are compared (``save_pretrained`` of a model alone writes
    none), so the usual layout costs one ``stat`` per checkpoint.
    """
    from convdiv.vocab import tokenizer_fingerprint

    tokenizer = tokenizer if tokenizer is not None else _load_tokenizer(spec.tokenizer, f"suite {spec.name!r}")
    expected = tokenizer_fingerprint(tokenizer)
    if spec.source != "local":
        return expected
    for ref in refs if refs is not None else spec.checkpoints():
        step_dir = Path(ref.path)
        if has_own_tokenizer(step_dir) and folder_fingerprint(step_dir) != expected:
            raise ConvdivError(
                f"{ref.describe()}: its tokenizer differs from the suite's ({spec.tokenizer}); "
                "every checkpoint of a suite must share one tokenizer"
            )
    return expected


def declared_width(ref: CheckpointRef) -> int | None:
    """The embedding size (``vocab_size``) a checkpoint's config.json declares, read without loading the model:
    from a local step folder or a cached hub snapshot; None when the file is not here or declares none."""
    if ref.revision is None and _is_local(ref.path):
        config = Path(ref.path) / "config.json"
    else:
        snapshot = cached_snapshot(ref)
        if snapshot is None:
            return None
        config = snapshot / "config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and "vocab_size" not in data and isinstance(data.get("text_config"), dict):
        data = data["text_config"]  # multimodal configs keep the language model's under text_config
    width = data.get("vocab_size") if isinstance(data, dict) else None
    return width if isinstance(width, int) and not isinstance(width, bool) else None


def check_embedding_width(refs: Iterable[CheckpointRef], tokenizer_size: int, tokenizer: str) -> None:
    """Refuse, before any model is loaded, a checkpoint whose embedding is narrower than the tokenizer: its token
    ids would index past the embedding. A wider one is a padded head (Pythia: 50,304 for 50,277 entries) and is
    fine: ce is over the full output width. Checkpoints whose config.json is not here yet (a hub download) are
    checked by the extract engine once loaded."""
    for ref in refs:
        width = declared_width(ref)
        if width is not None and width < tokenizer_size:
            raise ConvdivError(
                f"{ref.describe()}: its embedding has {width} rows (config.json vocab_size), fewer than the "
                f"{tokenizer_size} entries of the suite's tokenizer {tokenizer}: give the suite the tokenizer this "
                "model was trained with"
            )


# -------------------------------------------------------------------------------------------- weights identity


def _hub_weight_files(ref: CheckpointRef) -> list[Path]:
    """The cached weight files of a hub checkpoint (after from_pretrained has fetched them): safetensors, or the
    ``pytorch_model.bin`` files of branches published before safetensors (most of Pythia's step branches)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return []

    def cached(name: str) -> Path | None:
        hit = try_to_load_from_cache(ref.path, name, revision=ref.revision)
        return Path(hit) if isinstance(hit, str) and Path(hit).is_file() else None

    for single_name, index_name in (
        ("model.safetensors", "model.safetensors.index.json"),
        ("pytorch_model.bin", "pytorch_model.bin.index.json"),
    ):
        single = cached(single_name)
        if single is not None:
            return [single]
        index = cached(index_name)
        if index is None:
            continue
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        files = [cached(name) for name in shards]
        return [f for f in files if f is not None] if all(files) else []
    return []


def checkpoint_weights_sha256(ref: CheckpointRef) -> str | None:
    """sha256 of a checkpoint's weights without loading the model (local folder or hub cache)."""
    files = (
        safetensors_files(Path(ref.path)) if ref.revision is None and _is_local(ref.path) else _hub_weight_files(ref)
    )
    return weights_sha256(files)


# -------------------------------------------------------------------------------------------- models


def load_checkpoint(
    ref: CheckpointRef,
    device: str = "cpu",
    dtype=torch.float32,
    *,
    attempts: int = DOWNLOAD_ATTEMPTS,
    retry_delay_s: float = RETRY_DELAY_S,
    on_retry: Callable[[str], None] | None = None,
) -> LoadedCheckpoint:
    """Load one checkpoint with ``from_pretrained`` in eval mode on ``device``.

    Any failure (missing folder, corrupt safetensors, a tokenizer in the step folder that differs from the
    suite's, an unreachable hub) raises a one-line ConvdivError naming the checkpoint. A hub download that fails
    for a reason that may pass is tried ``attempts`` times; ``on_retry`` gets a one-line message before each wait.
    """
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one tqdm bar per checkpoint would drown convdiv's own progress
    local = ref.revision is None and _is_local(ref.path)
    files: list[Path] = []
    if local:
        folder = Path(ref.path)
        if not folder.is_dir():
            raise ConvdivError(f"{ref.describe()}: checkpoint folder missing")
        if not (folder / "config.json").is_file():
            raise ConvdivError(f"{ref.describe()}: config.json missing (expected save_pretrained output)")
        files = safetensors_files(folder)
        if not files and not list(folder.glob("*.bin")):
            raise ConvdivError(f"{ref.describe()}: no weights (*.safetensors) in the folder")
        for path in files:
            try:
                read_safetensors_header(path)
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                raise ConvdivError(f"{ref.describe()}: corrupt safetensors file {path.name}: {exc}") from None
        _check_step_tokenizer(ref)
    model = _with_retries(
        ref,
        lambda: AutoModelForCausalLM.from_pretrained(ref.path, revision=ref.revision, **dtype_kwargs(dtype)),
        1 if local else attempts,
        retry_delay_s,
        on_retry,
        "cannot load",
    )
    try:
        model = model.to(device)
    except (RuntimeError, AssertionError, ImportError, ValueError) as exc:  # no such device, not built for it, OOM
        raise ConvdivError(f"{ref.describe()}: cannot move to device {device!r}: {exc}") from None
    model.eval()
    if not local:
        files = _hub_weight_files(ref)
    sha, nonfinite = hash_weights(files)
    if not any(f.suffix == ".safetensors" for f in files):
        # No safetensors bytes to scan (a .bin-only branch): look at what the model holds instead.
        nonfinite = tuple(
            f"{name}: {int((~torch.isfinite(t)).sum())} value(s)"
            for name, t in model.state_dict().items()
            if t.is_floating_point() and not bool(torch.isfinite(t).all())
        )
    n_params = sum(p.numel() for p in model.parameters())
    return LoadedCheckpoint(ref=ref, model=model, weights_sha256=sha, n_params=n_params, nonfinite=nonfinite)


def download_checkpoint(
    ref: CheckpointRef,
    *,
    attempts: int = DOWNLOAD_ATTEMPTS,
    retry_delay_s: float = RETRY_DELAY_S,
    on_retry: Callable[[str], None] | None = None,
) -> None:
    """Fetch a hub checkpoint's config and weights into the Hub cache without loading it (a no-op for local ones).

    The files are the ones ``from_pretrained`` reads: config.json, then model.safetensors (or its index and
    shards), else pytorch_model.bin (or its index and shards), so a later :func:`load_checkpoint` finds them all
    cached. The worker runs this for the group after next while the next group loads, so the network never idles
    while models are being built. Failures are retried and reported like :func:`load_checkpoint`'s.
    """
    if (ref.revision is None and _is_local(ref.path)) or hub_offline():
        return  # offline there is nothing to fetch: load_checkpoint reads the cache and names what it lacks

    def fetch() -> None:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import RemoteEntryNotFoundError

        def get(name: str) -> Path:
            return Path(hf_hub_download(ref.path, name, revision=ref.revision))

        get("config.json")
        for single, index in (
            ("model.safetensors", "model.safetensors.index.json"),
            ("pytorch_model.bin", "pytorch_model.bin.index.json"),
        ):
            for name in (single, index):
                try:
                    path = get(name)
                except RemoteEntryNotFoundError:  # the revision has no such file: try the next layout
                    continue
                if name == index:
                    for shard in sorted(set(json.loads(path.read_text())["weight_map"].values())):
                        get(shard)
                return
        raise ConvdivError(f"{ref.describe()}: no weights (model.safetensors or pytorch_model.bin) at this revision")

    _with_retries(ref, fetch, attempts, retry_delay_s, on_retry, "cannot download")


def _with_retries(
    ref: CheckpointRef,
    call: Callable,
    attempts: int,
    retry_delay_s: float,
    on_retry: Callable[[str], None] | None,
    what: str,
):
    """``call()``, tried up to ``attempts`` times while its failure may pass; then one ConvdivError naming ``ref``."""
    attempts = max(1, int(attempts))
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ConvdivError:
            raise
        # Broad on purpose: ``call`` runs transformers, safetensors and the Hub client, whose errors share no base
        # but Exception (SafetensorError and the Hub's transport errors, httpx2.HTTPError, derive from it directly);
        # each becomes one line naming the checkpoint, and _may_pass decides whether to try again.
        except Exception as exc:  # noqa: BLE001 - see above
            reason = f"{type(exc).__name__}: {_one_line(exc)}"
            if attempt == attempts or not _may_pass(exc):
                tried = f"download failed after {attempts} attempts" if attempt > 1 else what
                raise ConvdivError(f"{ref.describe()}: {tried}: {reason}") from None
            wait = retry_delay_s * attempt
            if on_retry is not None:
                on_retry(f"{ref.describe()}: attempt {attempt} of {attempts} failed ({reason}); retrying in {wait:g} s")
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _one_line(exc: BaseException, limit: int = 400) -> str:
    """An exception's message on one line (transformers' messages span several), cut to ``limit`` characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _may_pass(exc: BaseException) -> bool:
    """True when retrying a failed hub load may help: an OSError (network, timeout, partial or missing file)
    that is not, anywhere in its chain, a missing repository/revision or a gated repository."""
    seen: BaseException | None = exc
    retry = False
    while seen is not None:
        if type(seen).__name__ in _PERMANENT_HUB_ERRORS:
            return False
        retry = retry or isinstance(seen, OSError)
        seen = seen.__cause__ or seen.__context__
    return retry


def _check_step_tokenizer(ref: CheckpointRef) -> None:
    """A local step folder with its own tokenizer must match the suite's ``<root>/tokenizer``."""
    step_dir = Path(ref.path)
    if not has_own_tokenizer(step_dir):
        return
    suite_tok = step_dir.parents[2] / "tokenizer"  # <root>/<size>/seed<k>/step<N>
    if not has_own_tokenizer(suite_tok):
        return
    if folder_fingerprint(step_dir) != folder_fingerprint(suite_tok):
        raise ConvdivError(
            f"{ref.describe()}: its tokenizer differs from the suite's ({suite_tok}); "
            "every checkpoint of a suite must share one tokenizer"
        )


def dtype_kwargs(dtype) -> dict:
    """transformers >= 4.56 calls it ``dtype``; older releases only know ``torch_dtype``."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def _is_local(path: str) -> bool:
    p = Path(path).expanduser()
    return p.is_absolute() or path.startswith(".") or p.exists()


# -------------------------------------------------------------------------------------------- hub cache


_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def hub_cache_dir() -> Path:
    """The ``huggingface_hub`` cache that ``from_pretrained`` uses (``HF_HUB_CACHE``, else ``$HF_HOME/hub``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _repo_dir(repo_id: str, cache: Path | None = None) -> Path:
    return (cache or hub_cache_dir()) / ("models--" + repo_id.replace("/", "--"))


def cached_snapshot(ref: CheckpointRef, cache: Path | None = None) -> Path | None:
    """``snapshots/<commit>`` of a hub checkpoint when its revision is in the cache with a config.json, else None."""
    repo = _repo_dir(ref.path, cache)
    revision = ref.revision or "main"
    commit = revision if _COMMIT.match(revision) else None
    ref_file = repo / "refs" / revision
    if commit is None and ref_file.is_file():
        commit = ref_file.read_text(encoding="utf-8").strip()
    if commit is None:
        return None
    snapshot = repo / "snapshots" / commit
    return snapshot if (snapshot / "config.json").exists() else None


def hub_revision_status(refs: Iterable[CheckpointRef], offline: bool | None = None) -> dict[str, str]:
    """Checkpoints whose revision cannot be loaded: label -> why (one phrase). Cached revisions always count as
    available; offline, anything else is missing; online, each repository's branches and tags are listed once
    (PolyPythias has gaps: some runs lack some steps)."""
    hub = [(r, r.revision) for r in refs if r.revision is not None]
    offline = hub_offline() if offline is None else offline
    missing: dict[str, str] = {}
    branches: dict[str, set[str] | str] = {}
    for ref, revision in hub:
        if cached_snapshot(ref) is not None:
            continue
        if offline:
            missing[ref.label] = (
                f"revision {revision} of {ref.path} is not in the Hub cache {hub_cache_dir()} (HF_HUB_OFFLINE is set)"
            )
            continue
        if ref.path not in branches:
            branches[ref.path] = _list_revisions(ref.path)
        known = branches[ref.path]
        if isinstance(known, str):
            missing[ref.label] = known
        elif revision not in known and not _COMMIT.match(revision):
            missing[ref.label] = f"revision {revision} does not exist on the Hub for {ref.path}"
    return missing


def _list_revisions(repo_id: str) -> set[str] | str:
    """Branch and tag names of a hub model, or a phrase saying why the repository is unavailable."""
    from huggingface_hub import HfApi

    try:
        listed = HfApi().list_repo_refs(repo_id)
    # Broad on purpose: the Hub client raises OSError (HTTP status errors), ValueError (a malformed repo id) and
    # its transport's own errors (httpx2.HTTPError, not an OSError); classified by name below, in one line.
    except Exception as exc:  # noqa: BLE001 - see above
        name = type(exc).__name__
        if name in ("RepositoryNotFoundError", "GatedRepoError", "DisabledRepoError"):
            return f"repository {repo_id} is not available on the Hub ({name})"
        raise ConvdivError(
            f"cannot list the revisions of {repo_id} on the Hub: {name}: {_one_line(exc)}; "
            "check the network or set HF_HUB_OFFLINE=1 to use the local cache only"
        ) from None
    return {b.name for b in listed.branches} | {t.name for t in listed.tags}


def _param_estimate(ref: CheckpointRef) -> int:
    return int(size_label_params(ref.size) or 0)


def checkpoint_disk_bytes(ref: CheckpointRef) -> tuple[int, bool]:
    """(bytes on disk, True) for a local or cached checkpoint's files; else (estimated download bytes, False).

    A cached snapshot counts the blobs its files link to; the estimate for a download is
    :data:`HUB_BYTES_PER_PARAM` x the parameters its size label names (0 when the label says nothing).
    """
    if ref.revision is None and _is_local(ref.path):
        folder = Path(ref.path)
        return (sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) if folder.is_dir() else 0), True
    snapshot = cached_snapshot(ref)
    if snapshot is not None:
        blobs = {f.resolve() for f in snapshot.rglob("*") if f.is_file()}
        return sum(b.stat().st_size for b in blobs), True
    return HUB_BYTES_PER_PARAM * _param_estimate(ref), False


def free_disk_bytes(path: Path) -> tuple[Path, int]:
    """Free bytes on the file system that holds ``path`` (or its nearest existing parent)."""
    path = Path(path).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path, shutil.disk_usage(path).free


@dataclass
class DiskEstimate:
    """Bytes of a selection's weights: present (local folders or Hub cache) and still to download (estimated)."""

    n_present: int
    present_bytes: int
    n_download: int
    download_bytes: int
    where: Path  # the file system the downloads go to (the Hub cache) or the local suite's folder
    free_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.present_bytes + self.download_bytes

    def lines(self) -> list[str]:
        """Two lines for people: the weights' size and the free disk, with a warning when downloads won't fit."""
        parts = []
        if self.n_present:
            parts.append(f"{self.n_present} on disk: {human_bytes(self.present_bytes)}")
        if self.n_download:
            parts.append(
                f"{self.n_download} to download: ~{human_bytes(self.download_bytes)} "
                f"at {HUB_BYTES_PER_PARAM} bytes/parameter"
            )
        approx = "~" if self.n_download else ""
        out = [
            f"weights    {approx}{human_bytes(self.total_bytes)} for {self.n_present + self.n_download} "
            f"checkpoints ({'; '.join(parts) or 'none'})",
            f"free disk  {human_bytes(self.free_bytes)} at {self.where}",
        ]
        if self.download_bytes > self.free_bytes:
            out.append(
                f"warning: the downloads (~{human_bytes(self.download_bytes)}) exceed the free disk at "
                f"{self.where}; use --cache-policy evict or another HF_HUB_CACHE"
            )
        return out


def disk_estimate(refs: Sequence[CheckpointRef]) -> DiskEstimate:
    """What the selection's weights take (see :func:`checkpoint_disk_bytes`) and the free disk where they go."""
    n_present = present = n_download = download = 0
    for ref in refs:
        size, on_disk = checkpoint_disk_bytes(ref)
        if on_disk:
            n_present, present = n_present + 1, present + size
        else:
            n_download, download = n_download + 1, download + size
    hub = any(r.revision is not None for r in refs)
    where, free = free_disk_bytes(
        hub_cache_dir() if hub or not refs else Path(os.path.commonpath([r.path for r in refs]))
    )
    return DiskEstimate(n_present, present, n_download, download, where, free)


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns


def evict_hub_checkpoint(ref: CheckpointRef) -> int:
    """Delete a hub checkpoint's snapshot, the ref naming it and every blob no other snapshot of the repository
    links to (config.json is often one blob shared by all steps of a run). Returns the bytes freed; 0 when the
    checkpoint is local or not cached. Safe to call from several processes: a file already gone is skipped."""
    if ref.revision is None:
        return 0
    repo = Path(os.path.normpath(_repo_dir(ref.path)))
    snapshot = cached_snapshot(ref)
    if snapshot is None:
        return 0
    snapshot = Path(os.path.normpath(snapshot))
    commit = snapshot.name
    doomed = {_link_target(f) for f in snapshot.rglob("*") if f.is_symlink()}
    shutil.rmtree(snapshot, ignore_errors=True)
    for ref_file in (repo / "refs").rglob("*") if (repo / "refs").is_dir() else ():
        try:
            if ref_file.is_file() and ref_file.read_text(encoding="utf-8").strip() == commit:
                ref_file.unlink()
        except FileNotFoundError:
            pass
    kept = {_link_target(f) for f in (repo / "snapshots").rglob("*") if f.is_symlink()}
    freed = 0
    for blob in doomed - kept:
        if blob.parent.name == "blobs" and blob.parent.parent == repo:
            try:
                freed += blob.stat().st_size
                blob.unlink()
            except FileNotFoundError:
                pass
    return freed


def _link_target(link: Path) -> Path:
    return Path(os.path.normpath(link.parent / os.readlink(link)))


# -------------------------------------------------------------------------------------------- checks


def check_identical_weights(loaded: Iterable) -> list[str]:
    """Warnings for runs in which two different steps have byte-identical weights.

    Accepts :class:`LoadedCheckpoint` objects or ``(CheckpointRef, sha256)`` pairs. Some published Pythia
    branches were found to hold the same weights under different step names; such checkpoints would show a
    consecutive-step KL of exactly 0.
    """
    by_run: dict[tuple[str, int, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for item in loaded:
        ref, sha = (item.ref, item.weights_sha256) if isinstance(item, LoadedCheckpoint) else item
        if sha:
            steps = by_run[(ref.size, ref.seed, ref.source)][sha]
            if ref.step not in steps:
                steps.append(ref.step)
    warnings = []
    for (size, seed, source), hashes in by_run.items():
        for sha, steps in hashes.items():
            if len(steps) > 1:
                shown = ", ".join(str(s) for s in sorted(steps))
                warnings.append(
                    f"run {size}/seed{seed} ({source}): steps {shown} have identical weights (sha256 {sha[:12]})"
                )
    return warnings
