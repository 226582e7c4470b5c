"""One training run (size, seed): deterministic, checkpointed on the suite's schedule, resumable after a kill."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convdiv.suites.demo.checkpoints import DONE_FILE, STATE_FILE, read_run_log, save_checkpoint
from convdiv.suites.demo.config import DemoConfig, DemoSize
from convdiv.suites.demo.model import new_model
from convdiv.suites.demo.schedule import BatchSchedule, learning_rate


@dataclass
class RunJob:
    root: str
    cfg: DemoConfig
    label: str
    arch: DemoSize
    seed: int
    vocab_len: int
    stop_after: int | None


@contextlib.contextmanager
def deterministic_torch(threads: int = 1):
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
    with deterministic_torch(1):
        if state is None:
            torch.manual_seed(job.seed)  # the init seed
            model = new_model(cfg, arch, job.vocab_len)
        else:
            # from_pretrained, not load_state_dict: transformers maps saved names (embed_out) to module names.
            model = GPTNeoXForCausalLM.from_pretrained(
                str(run_dir / f"step{int(state['step'])}"), **dtype_kwargs(torch.float32)
            )
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]  # biases and LayerNorm: no decay
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=arch.lr,
            betas=(0.9, 0.95),
            eps=1e-8,
        )
        batches = BatchSchedule(train_ids, job.seed, cfg.batch_size, cfg.seq_len)
        val = torch.from_numpy(val_ids.astype(np.int64)).view(-1, cfg.seq_len)

        start, log = 0, []
        if state is not None:
            start = int(state["step"])
            opt.load_state_dict(state["optimizer"])
            log = [r for r in read_run_log(run_dir) if r["step"] <= start]
        else:
            first = batches.batch(0)
            with torch.no_grad():
                init_loss = model(input_ids=first, labels=first).loss.item()
            log = []
            save_checkpoint(model, opt, run_dir, 0, log, _row(job, 0, init_loss, _val_loss(model, val), 0.0, cfg))
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
                save_checkpoint(model, opt, run_dir, done, log, row)
                loss_sum, loss_n = 0.0, 0
                report(job.label, job.seed, done, row["train_loss"])
            elif done % 25 == 0:
                report(job.label, job.seed, done, loss.item())
        if end == cfg.max_step:
            state_path.unlink(missing_ok=True)  # optimiser state is only needed to resume
            (run_dir / DONE_FILE).write_text("ok\n")


def _row(job: RunJob, step: int, train_loss: float, val_loss: float, lr: float, cfg: DemoConfig) -> dict:
    return {
        "size": job.label,
        "seed": job.seed,
        "step": step,
        "train_loss": round(train_loss, 6),
        "val_loss": round(val_loss, 6),
        "lr": lr,
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
