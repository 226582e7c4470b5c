"""The demo suite: a small Pythia-architecture suite trained locally on the bundled Austen novels.

Why: no hub download works offline, yet every analysis needs real checkpoints. The demo reproduces the Pythia
recipe at toy scale so the convergence/divergence phases have something to show:

- tokenizer: byte-level BPE in the GPT-NeoX style (``tokenizers``; ``<|endoftext|>`` = id 0, ``<|padding|>`` = 1),
  trained on the five training novels; the output layer is padded to a multiple of 128 like Pythia's 50,277 -> 50,304;
- models: ``GPTNeoXForCausalLM`` with Pythia's architecture choices (rotary on 25% of head dims, parallel residual,
  untied embeddings, GELU); sizes are named by their parameter count like Pythia's (``"0.4m"``);
- initialisation: GPT-NeoX's for Pythia, small init N(0, sqrt(2 / (5 d))) for every weight but the projections into
  the residual stream (``attention.dense``, ``mlp.dense_4h_to_h``: Wang init N(0, 2 / (L sqrt(d)))), so that seeds
  disagree at step 0 as Pythia's do (see ``model``);
- optimiser: AdamW (beta = 0.9, 0.95, eps 1e-8, weight decay 0.01, gradient clipping 1.0), learning rate
  warm-up over the first 1% of steps then cosine decay to 10% of the peak at the last step (Biderman et al., 2023);
- data: the training novels' chapters packed into one token stream (``<|endoftext|>`` between documents), cut
  into sequences of ``seq_len``; each epoch visits them in a seeded random order;
- seeds: seed k sets both the initialisation (``torch.manual_seed(k)``) and the data order (a separate generator
  seeded from k and the epoch), as in PolyPythias;
- checkpoints at steps 0 (initialisation), 1, 2, 4, ..., 512 and then every 1000 steps (Pythia's branches); the
  full demo adds steps 40 and 48, where its E[KL] across seeds is lowest (``config``).

Training is deterministic for a given seed (one intra-op thread per run, ``torch.use_deterministic_algorithms``,
the batch at step t a pure function of (seed, t)), resumable (each checkpoint also writes the optimiser state, so a
killed run continues from its last checkpoint and reproduces the same weights), and cached: a finished suite has a
``suite.toml`` and training it again is a no-op. ``train_log.jsonl`` records per checkpoint the mean training
loss over the steps since the previous checkpoint and the loss on a fixed slice of the validation novel.

Modules: ``config`` (the configurations), ``tokenizer`` (texts, BPE, token streams), ``schedule`` (learning rate,
batch order), ``model`` (GPT-NeoX config, size names), ``checkpoints`` (a run's files), ``run`` (one run),
``pool`` (runs in parallel processes), ``train`` (the suite folder: lock, cache, resume, ``suite.toml``).
"""

from convdiv.suites.demo.checkpoints import read_train_log
from convdiv.suites.demo.config import DEMO, DEMO_QUICK, DemoConfig, DemoSize
from convdiv.suites.demo.tokenizer import demo_training_text, demo_validation_text
from convdiv.suites.demo.train import train_demo

__all__ = [
    "DEMO",
    "DEMO_QUICK",
    "DemoConfig",
    "DemoSize",
    "demo_training_text",
    "demo_validation_text",
    "read_train_log",
    "train_demo",
]
