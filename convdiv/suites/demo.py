"""The demo suite: a small Pythia-architecture suite trained locally on the bundled Austen novels.

Why: no hub download works offline, yet every analysis needs real checkpoints. The demo reproduces the Pythia
recipe at toy scale so the convergence/divergence phases have something to show:

- tokenizer: byte-level BPE in the GPT-NeoX style (``tokenizers``; ``<|endoftext|>`` = id 0, ``<|padding|>`` = 1),
  trained on the five training novels; the output layer is padded to a multiple of 128 like Pythia's 50,277 -> 50,304;
- models: ``GPTNeoXForCausalLM`` with Pythia's architecture choices (rotary on 25% of head dims, parallel residual,
  untied embeddings, GELU); sizes are named by their parameter count like Pythia's (``"0.4m"``);
- optimiser: AdamW (beta = 0.9, 0.95, eps 1e-8, weight decay 0.01, gradient clipping 1.0), learning rate
  warm-up over the first 1% of steps then cosine decay to 10% of the peak at the last step (Biderman et al., 2023);
- data: the training novels' chapters packed into one token stream (``<|endoftext|>`` between documents), cut
  into sequences of ``seq_len``; each epoch visits them in a seeded random order;
- seeds: seed k sets both the initialisation (``torch.manual_seed(k)``) and the data order (a separate generator
  seeded from k and the epoch), as in PolyPythias;
- checkpoints at steps 0 (initialisation), 1, 2, 4, ..., 512 and then every 1000 steps (Pythia's branches).

Training is deterministic for a given seed (one intra-op thread per run, ``torch.use_deterministic_algorithms``,
the batch at step t a pure function of (seed, t)), resumable (each checkpoint also writes the optimiser state, so a
killed run continues from its last checkpoint and reproduces the same weights), and cached: a finished suite has a
``suite.toml`` and training it again is a no-op. ``train_log.jsonl`` records per checkpoint the mean training
loss over the steps since the previous checkpoint and the loss on a fixed slice of the validation novel.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from convdiv.config import Settings
from convdiv.errors import ConvdivError
from convdiv.suites.spec import DEMO_SUITES, SUITE_FILE, TOKENIZER_DIR, SuiteSpec, write_suite_file

SPECIAL_TOKENS = ("<|endoftext|>", "<|padding|>")  # GPT-NeoX ids 0 and 1
EOS = "<|endoftext|>"
CONFIG_FILE = "demo_config.json"
LOG_FILE = "train_log.jsonl"
STATE_FILE = "train_state.pt"
DONE_FILE = "done"


def pythia_checkpoint_steps(max_step: int) -> tuple[int, ...]:
    """Pythia's checkpoint schedule cut at ``max_step``: 0, 1, 2, 4, ..., 512, 1000, 2000, ... (plus max_step)."""
    steps = {0, max_step}
    steps.update(2**i for i in range(10) if 2**i <= max_step)
    steps.update(range(1000, max_step + 1, 1000))
    return tuple(sorted(steps))


@dataclass(frozen=True)
class DemoSize:
    hidden: int
    layers: int
    heads: int
    lr: float  # peak learning rate; Pythia lowers it as models grow (1e-3 at 70m, 3e-4 at 410m)


@dataclass(frozen=True)
class DemoConfig:
    name: str
    vocab_size: int  # BPE entries, special tokens included
    sizes: tuple[DemoSize, ...]  # smallest -> largest
    seeds: tuple[int, ...]
    max_step: int
    batch_size: int
    seq_len: int  # training context length; also the model's max_position_embeddings
    train_chars: int | None = None  # use only this many characters of the training text (quick config)
    warmup_frac: float = 0.01  # Pythia: 1% of training
    min_lr_frac: float = 0.1  # Pythia: cosine decay to 10% of the peak
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    val_sequences: int = 32  # validation loss: this many seq_len windows spread evenly over the held-out novel
    steps: tuple[int, ...] = field(default=())

    def checkpoint_steps(self) -> tuple[int, ...]:
        return self.steps or pythia_checkpoint_steps(self.max_step)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["steps"] = list(self.checkpoint_steps())
        d["sizes"] = [asdict(s) for s in self.sizes]
        d["seeds"] = list(self.seeds)
        return d


# Default: a few minutes of training on 2 idle cores (two runs in parallel, one thread each; bench/train.py).
# 2 sizes x 3 seeds x 2000 steps of 16 x 64 tokens (~2.4 epochs of the ~0.85 M training tokens), 13 checkpoints.
DEMO = DemoConfig(
    name="demo",
    vocab_size=2000,  # padded to 2048 logits, as Pythia pads 50,277 to 50,304
    sizes=(DemoSize(hidden=32, layers=2, heads=2, lr=3e-3), DemoSize(hidden=64, layers=2, heads=4, lr=2e-3)),
    seeds=(1, 2, 3),
    max_step=2000,  # reaches the paper's third phase line (~2000 steps)
    batch_size=16,
    seq_len=64,
)
# Quick: seconds; for tests of later stages. Same recipe, tiny everything.
DEMO_QUICK = DemoConfig(
    name="demo-quick",
    vocab_size=360,  # padded to 384 logits
    sizes=(DemoSize(hidden=16, layers=1, heads=2, lr=1e-2), DemoSize(hidden=32, layers=1, heads=2, lr=1e-2)),
    seeds=(1, 2, 3),
    max_step=128,
    batch_size=8,
    seq_len=32,
    train_chars=400_000,
    val_sequences=8,
)


# -------------------------------------------------------------------------------------------- public API


def demo_validation_text(max_documents: int | None = None) -> str:
    """The held-out novel (Persuasion), one chapter per document, documents joined by ``<|endoftext|>``.

    ``max_documents`` keeps only the first chapters (the whole novel is 24 chapters, ~83 k words).
    """
    from convdiv.data.austen import validation_documents

    docs = validation_documents()
    return EOS.join(docs[:max_documents] if max_documents else docs)


def demo_training_text() -> str:
    """The five training novels, chapters joined by ``<|endoftext|>``."""
    from convdiv.data.austen import training_documents

    return EOS.join(training_documents())


def demo_root(settings: Settings, quick: bool = False) -> Path:
    return settings.suites_dir / (DEMO_QUICK.name if quick else DEMO.name)


def train_demo(
    settings: Settings,
    quick: bool = False,
    progress: bool = True,
    *,
    workers: int | None = None,
    force: bool = False,
    config: DemoConfig | None = None,
    stop_after: int | None = None,
) -> Path:
    """Train (or reuse) the demo suite and return its root folder.

    A finished suite with the same configuration is returned as is. An unfinished one resumes each run from its
    last checkpoint. ``force`` deletes and retrains a finished suite. ``workers`` runs that many training runs in
    parallel processes (default: 1 for the quick suite, else up to 2, one thread each). ``config`` overrides the built-in configuration
    (tests); ``stop_after`` stops every run after that many optimiser steps without finishing (tests of resume).
    """
    cfg = config or (DEMO_QUICK if quick else DEMO)
    root = settings.suites_dir / cfg.name
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        if not force and _is_finished(root, cfg):
            return root
        _prepare_root(root, cfg, force)
        tokenizer = _ensure_tokenizer(root, cfg)
        train_ids, val_ids = _token_streams(tokenizer, cfg)
        labels = size_labels(cfg, len(tokenizer))
        jobs = [(label, arch, seed) for label, arch in zip(labels, cfg.sizes) for seed in cfg.seeds]
        todo = [j for j in jobs if not (root / j[0] / f"seed{j[2]}" / DONE_FILE).exists()]
        # Parallel runs pay off only when training outweighs a spawned worker's import of torch (~5 s).
        default_workers = 1 if cfg.max_step * cfg.batch_size * cfg.seq_len < 200_000 else min(2, os.cpu_count() or 1)
        n_workers = max(1, min(workers or default_workers, len(todo) or 1))
        _run_jobs(root, cfg, todo, train_ids, val_ids, len(tokenizer), n_workers, progress, stop_after)
        if stop_after is not None and stop_after < cfg.max_step:
            return root
        _finish(root, cfg, labels, jobs)
    return root


def size_labels(cfg: DemoConfig, vocab_len: int) -> list[str]:
    """Pythia-style size names from total parameter counts: '95k', '0.4m'."""
    labels = []
    for arch in cfg.sizes:
        n = _count_params(cfg, arch, vocab_len)
        label = f"{round(n / 1e3)}k" if n < 1e6 else f"{n / 1e6:.1f}m"
        if label in labels:
            raise ConvdivError(f"demo config {cfg.name}: two sizes share the label {label}")
        labels.append(label)
    return labels


def read_train_log(root: Path) -> list[dict]:
    """The suite's ``train_log.jsonl`` rows: size, seed, step, train_loss, val_loss, lr, tokens."""
    path = Path(root) / LOG_FILE
    if not path.is_file():
        raise ConvdivError(f"no training log in {root}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -------------------------------------------------------------------------------------------- suite folder


@contextlib.contextmanager
def _locked(root: Path):
    """One trainer per suite folder at a time (a second caller waits, then finds the suite finished)."""
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_config(root: Path) -> dict | None:
    path = root / CONFIG_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _is_finished(root: Path, cfg: DemoConfig) -> bool:
    if not (root / SUITE_FILE).is_file():
        return False
    if _read_config(root) != cfg.to_dict():
        raise ConvdivError(
            f"the suite at {root} was trained with a different configuration: "
            f"retrain with `{DEMO_SUITES.get(cfg.name, 'convdiv suite train demo')} --force` (or delete the folder)"
        )
    return True


def _prepare_root(root: Path, cfg: DemoConfig, force: bool) -> None:
    stored = _read_config(root)
    if force or (stored is not None and stored != cfg.to_dict()):
        # An unfinished suite of another configuration is a stale cache: nothing in it can be resumed.
        for child in root.iterdir():
            if child.name != ".lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    (root / CONFIG_FILE).write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")


def _ensure_tokenizer(root: Path, cfg: DemoConfig):
    from transformers import AutoTokenizer

    folder = root / TOKENIZER_DIR
    if not (folder / "tokenizer.json").is_file():
        tmp = root / (TOKENIZER_DIR + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        train_tokenizer(_training_text(cfg), cfg.vocab_size, tmp)
        tmp.replace(folder)
    return AutoTokenizer.from_pretrained(str(folder))


def _training_text(cfg: DemoConfig) -> str:
    text = demo_training_text()
    return text[: cfg.train_chars] if cfg.train_chars else text


def train_tokenizer(text: str, vocab_size: int, out_dir: Path):
    """GPT-NeoX-style byte-level BPE: ByteLevel pre-tokenizer without prefix space, all 256 bytes in the alphabet."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Documents are split at paragraphs: BPE merges never cross them anyway (the pre-tokenizer splits first).
    tok.train_from_iterator((p for doc in text.split(EOS) for p in doc.split("\n\n")), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=SPECIAL_TOKENS[1]
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    return fast


def _encode_stream(tokenizer, text: str) -> np.ndarray:
    """Documents packed into one stream, ``<|endoftext|>`` (id 0) after each, as Pythia packs the Pile."""
    eos = tokenizer.convert_tokens_to_ids(EOS)
    docs = text.split(EOS)
    encoded = tokenizer(docs, add_special_tokens=False)["input_ids"]
    out = []
    for ids in encoded:
        out.extend(ids)
        out.append(eos)
    return np.asarray(out, dtype=np.int32)


def _token_streams(tokenizer, cfg: DemoConfig) -> tuple[np.ndarray, np.ndarray]:
    train = _encode_stream(tokenizer, _training_text(cfg))
    val = validation_windows(_encode_stream(tokenizer, demo_validation_text()), cfg.val_sequences, cfg.seq_len)
    if len(train) < cfg.batch_size * cfg.seq_len:
        raise ConvdivError(f"demo config {cfg.name}: training text too short for one batch")
    return train, val


def validation_windows(stream: np.ndarray, n: int, seq_len: int) -> np.ndarray:
    """``n`` windows of ``seq_len`` tokens at evenly spaced offsets through the stream, concatenated.

    Spread over the whole novel: its opening pages (a baronetage entry full of names and dates) are not typical.
    """
    starts = [i * (len(stream) - seq_len) // max(1, n - 1) for i in range(n)]
    return np.concatenate([stream[s : s + seq_len] for s in starts])


def _finish(root: Path, cfg: DemoConfig, labels: list[str], jobs) -> None:
    rows = []
    for label, _, seed in jobs:
        rows.extend(_read_run_log(root / label / f"seed{seed}"))
    (root / LOG_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = SuiteSpec(
        name=cfg.name,
        source="local",
        tokenizer=str(root / TOKENIZER_DIR),
        sizes=tuple(labels),
        seeds=tuple(cfg.seeds),
        steps=cfg.checkpoint_steps(),
        root=str(root),
        description=f"convdiv demo suite: GPT-NeoX trained on five Austen novels ({cfg.max_step} steps)",
    )
    write_suite_file(spec)  # last: its presence marks the suite finished


# -------------------------------------------------------------------------------------------- training


def _model_config(cfg: DemoConfig, arch: DemoSize, vocab_len: int):
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=int(math.ceil(vocab_len / 128) * 128),  # padded like Pythia (50,277 -> 50,304)
        hidden_size=arch.hidden,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        intermediate_size=4 * arch.hidden,
        max_position_embeddings=cfg.seq_len,
        rotary_pct=0.25,
        rotary_emb_base=10000,
        use_parallel_residual=True,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        initializer_range=0.02,
        attention_dropout=0.0,
        hidden_dropout=0.0,
        tie_word_embeddings=False,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=1,
    )


def _count_params(cfg: DemoConfig, arch: DemoSize, vocab_len: int) -> int:
    import torch
    from transformers import GPTNeoXForCausalLM

    with torch.device("meta"):
        model = GPTNeoXForCausalLM(_model_config(cfg, arch, vocab_len))
    return sum(p.numel() for p in model.parameters())


def learning_rate(step: int, peak: float, cfg: DemoConfig) -> float:
    """Pythia's schedule: linear warm-up over the first 1% of steps, then cosine from peak to 10% of peak.

    lr(t) = peak * (t + 1) / W for t < W, else peak * (m + (1 - m) * (1 + cos(pi * (t - W) / (T - W))) / 2),
    with W = max(1, round(warmup_frac * T)), T = max_step, m = min_lr_frac; t counts updates from 0.
    """
    total = cfg.max_step
    warmup = max(1, round(cfg.warmup_frac * total))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def data_seed(seed: int, epoch: int) -> int:
    """The data-order generator's seed: distinct from the init seed, different per epoch."""
    return 1_000_003 * (seed + 1) + 7919 * epoch + 17


class BatchSchedule:
    """The batch at step t is a pure function of (seed, t): sequences of an epoch in a seeded permutation."""

    def __init__(self, stream: np.ndarray, seed: int, batch_size: int, seq_len: int):
        import torch

        n = len(stream) // seq_len
        self.sequences = torch.from_numpy(stream[: n * seq_len].astype(np.int64)).view(n, seq_len)
        self.seed, self.batch_size = seed, batch_size
        self._perms: dict[int, "torch.Tensor"] = {}

    def _perm(self, epoch: int):
        import torch

        if epoch not in self._perms:
            gen = torch.Generator().manual_seed(data_seed(self.seed, epoch))
            self._perms[epoch] = torch.randperm(len(self.sequences), generator=gen)
        return self._perms[epoch]

    def batch(self, step: int):
        import torch

        n = len(self.sequences)
        rows = []
        for i in range(step * self.batch_size, (step + 1) * self.batch_size):
            rows.append(self._perm(i // n)[i % n])
        return self.sequences[torch.stack(rows)]


@dataclass
class RunJob:
    root: str
    cfg: DemoConfig
    label: str
    arch: DemoSize
    seed: int
    vocab_len: int
    stop_after: int | None


def _run_jobs(root, cfg, todo, train_ids, val_ids, vocab_len, n_workers, progress, stop_after) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    if not todo:
        return
    jobs = [RunJob(str(root), cfg, label, arch, seed, vocab_len, stop_after) for label, arch, seed in todo]
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[loss]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=False) as bar:
        tasks = {(j.label, j.seed): bar.add_task(f"{cfg.name} {j.label}/seed{j.seed}", total=cfg.max_step, loss="") for j in jobs}

        def report(label, seed, step, loss):
            bar.update(tasks[(label, seed)], completed=step, loss=f"loss {loss:.3f}" if loss is not None else "")

        if n_workers == 1:
            for job in jobs:
                train_run(job, train_ids, val_ids, report)
            return
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # fork after torch has started threads is unsafe
        queue = ctx.Queue()
        with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_worker_init, initargs=(queue,)) as pool:
            futures = [pool.submit(_worker_train, job, train_ids, val_ids) for job in jobs]
            pending = set(futures)
            while pending:
                _drain(queue, report)
                done = [f for f in pending if f.done()]
                for f in done:
                    pending.discard(f)
                    f.result()  # re-raise a worker's error here
                if pending:
                    try:
                        report(*queue.get(timeout=0.2))
                    except Exception:  # noqa: BLE001 - queue.Empty; keep polling the futures
                        pass
            _drain(queue, report)


def _drain(queue, report) -> None:
    while True:
        try:
            report(*queue.get_nowait())
        except Exception:  # noqa: BLE001 - queue.Empty
            return


_QUEUE = None


def _worker_init(queue) -> None:
    global _QUEUE
    _QUEUE = queue


def _worker_train(job: RunJob, train_ids, val_ids) -> None:
    train_run(job, train_ids, val_ids, lambda *msg: _QUEUE.put(msg))


@contextlib.contextmanager
def _deterministic_torch(threads: int = 1):
    """One intra-op thread and deterministic kernels: bit-identical training for a seed on a given machine."""
    import torch

    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def train_run(job: RunJob, train_ids: np.ndarray, val_ids: np.ndarray, report: Callable | None = None) -> None:
    """Train one run (size, seed), resuming from its last checkpoint if a previous attempt was killed."""
    import torch
    from transformers import GPTNeoXForCausalLM
    from transformers.utils import logging as hf_logging

    from convdiv.suites.loading import dtype_kwargs

    hf_logging.disable_progress_bar()
    cfg, arch = job.cfg, job.arch
    run_dir = Path(job.root) / job.label / f"seed{job.seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_steps = set(cfg.checkpoint_steps())
    report = report or (lambda *a: None)

    state_path = run_dir / STATE_FILE
    state = torch.load(state_path, weights_only=True) if state_path.is_file() else None
    with _deterministic_torch(1):
        if state is None:
            torch.manual_seed(job.seed)  # the init seed
            model = GPTNeoXForCausalLM(_model_config(cfg, arch, job.vocab_len))
        else:
            # from_pretrained, not load_state_dict: transformers maps saved names (embed_out) to module names.
            model = GPTNeoXForCausalLM.from_pretrained(
                str(run_dir / f"step{int(state['step'])}"), **dtype_kwargs(torch.float32)
            )
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]  # biases and LayerNorm: no decay
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=arch.lr, betas=(0.9, 0.95), eps=1e-8,
        )
        batches = BatchSchedule(train_ids, job.seed, cfg.batch_size, cfg.seq_len)
        val = torch.from_numpy(val_ids.astype(np.int64)).view(-1, cfg.seq_len)

        start, log = 0, []
        if state is not None:
            start = int(state["step"])
            opt.load_state_dict(state["optimizer"])
            log = [r for r in _read_run_log(run_dir) if r["step"] <= start]
        else:
            first = batches.batch(0)
            with torch.no_grad():
                init_loss = model(input_ids=first, labels=first).loss.item()
            log = []
            _save_checkpoint(model, opt, run_dir, 0, log, _row(job, 0, init_loss, _val_loss(model, val), 0.0, cfg))
        report(job.label, job.seed, start, log[-1]["train_loss"] if log else None)

        end = cfg.max_step if job.stop_after is None else min(cfg.max_step, job.stop_after)
        model.train()
        loss_sum, loss_n = 0.0, 0
        for step in range(start, end):
            lr = learning_rate(step, arch.lr, cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            batch = batches.batch(step)
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
            done = step + 1
            if done in ckpt_steps:
                row = _row(job, done, loss_sum / loss_n, _val_loss(model, val), lr, cfg)
                _save_checkpoint(model, opt, run_dir, done, log, row)
                loss_sum, loss_n = 0.0, 0
                report(job.label, job.seed, done, row["train_loss"])
            elif done % 25 == 0:
                report(job.label, job.seed, done, loss.item())
        if end == cfg.max_step:
            state_path.unlink(missing_ok=True)  # optimiser state is only needed to resume
            (run_dir / DONE_FILE).write_text("ok\n")


def _row(job: RunJob, step: int, train_loss: float, val_loss: float, lr: float, cfg: DemoConfig) -> dict:
    return {
        "size": job.label, "seed": job.seed, "step": step,
        "train_loss": round(train_loss, 6), "val_loss": round(val_loss, 6), "lr": lr,
        "tokens": step * cfg.batch_size * cfg.seq_len,
    }


def _val_loss(model, val) -> float:
    import torch

    was_training = model.training
    model.eval()
    with torch.no_grad():
        loss = model(input_ids=val, labels=val).loss.item()
    model.train(was_training)
    return loss


def _read_run_log(run_dir: Path) -> list[dict]:
    path = run_dir / LOG_FILE
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()] if path.is_file() else []


def _save_checkpoint(model, opt, run_dir: Path, step: int, log: list[dict], row: dict) -> None:
    """Write step<N>/ atomically, then the resume state and the run's log (in this order: see train_run)."""
    import torch

    final = run_dir / f"step{step}"
    tmp = run_dir / f".step{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    if final.exists():
        shutil.rmtree(final)  # a killed attempt got this far before; the retrained weights are identical
    tmp.replace(final)
    state_tmp = run_dir / (STATE_FILE + ".tmp")
    torch.save({"step": step, "optimizer": opt.state_dict()}, state_tmp)
    state_tmp.replace(run_dir / STATE_FILE)
    log.append(row)
    log_tmp = run_dir / (LOG_FILE + ".tmp")
    log_tmp.write_text("".join(json.dumps(r) + "\n" for r in log))
    log_tmp.replace(run_dir / LOG_FILE)
