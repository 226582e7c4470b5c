"""Workers as a cluster runs them: three `convdiv ingest` processes with their own data dirs and Hub caches (as three
machines would have) against one database do every unit exactly once, started through the recipes of
docs/cluster.md (two Slurm array tasks and one Kubernetes Indexed Job pod); the Job manifest's structure;
`--devices` runs one worker process per listed device (the plumbing, on CPU: `--devices cpu,cpu`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml

from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S
from convdiv.testing.cli import CONVDIV
from convdiv.testing.hub import add_hub_corpus, build_fake_hub, hub_env

SIZES, SEEDS, STEPS = ("14m", "31m"), (1, 3), (0, 1, 2, 4)
CLUSTER = Path(__file__).resolve().parents[1] / "docs" / "cluster"
DONE_LINE = re.compile(
    r"^ingest pythia x tiny: (\d+) done, (\d+) skipped \(already done\), (\d+) done by other "
    r"workers, 0 failed, 0 missing a revision$",
    re.M,
)


@pytest.fixture(scope="module")
def hub_template(tmp_path_factory) -> Path:
    return build_fake_hub(tmp_path_factory.mktemp("hub") / "cache", sizes=SIZES, seeds=SEEDS, steps=STEPS)


def rows(db_url: str, sql: str) -> list[tuple]:
    with psycopg.connect(S.conninfo(db_url)) as conn:
        return conn.execute(sql).fetchall()


def test_three_machines_against_one_database_do_every_unit_exactly_once(hub_template, tmp_path, db_url):
    add_hub_corpus(hub_env(hub_template, tmp_path, db_url), tmp_path)  # once, before the array (as docs/cluster.md)
    procs = []
    for task in range(3):
        scratch = tmp_path / f"machine{task}"
        # The task's own Hub cache where ingest-task.sh puts it, filled as a download would have.
        shutil.copytree(hub_template, scratch / f"convdiv-task-{task}" / "hub", symlinks=True)
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HF_HOME", "CONVDIV_DATA_DIR")}
        env.update(
            DATABASE_URL=db_url,
            HF_HUB_OFFLINE="1",
            CONVDIV_SCRATCH=str(scratch),
            CORPUS="tiny",
            CONVDIV_VENV=str(Path(sys.executable).parents[1]),
            HF_HOME=str(scratch / "hf-home"),
            # one unit per claim (tiny memory budget), so the three workers race for every unit
            INGEST_ARGS=f"--sizes {','.join(SIZES)} --seeds {','.join(map(str, SEEDS))} "
            f"--steps {','.join(map(str, STEPS))} --memory-gb 0.001",
        )
        if task < 2:  # two Slurm array tasks
            command = ["bash", str(CLUSTER / "slurm-ingest.sbatch")]
            env["SLURM_ARRAY_TASK_ID"] = str(task)
        else:  # one pod of the Kubernetes Indexed Job: the container's command
            command = yaml.safe_load((CLUSTER / "ingest-job.yaml").read_text())["spec"]["template"]["spec"][
                "containers"
            ][0]["command"]
            command = [c.replace("/opt/convdiv/docs/cluster", str(CLUSTER)) for c in command]
            env["JOB_COMPLETION_INDEX"] = str(task)
            # the pod's image has convdiv on PATH; here that is the test's own environment (CI runs the venv's
            # python without activating it, so its bin folder is not on PATH by itself)
            env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=900) for p in procs]
    for task, (p, (out, err)) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, err
        assert f"convdiv task {task} on " in out and f"machine{task}/convdiv-task-{task}/hub" in out

    units = len(SIZES) * len(STEPS)
    done = [DONE_LINE.search(out) for out, _ in outputs]
    assert all(done), [out for out, _ in outputs]
    # Every unit done by exactly one of the three processes.
    assert sum(int(m.group(1)) for m in done) == units
    for m in done:
        # what a worker saw done by others when it finished (others may still have been publishing)
        assert int(m.group(1)) + int(m.group(2)) + int(m.group(3)) <= units
    assert rows(db_url, "SELECT status, count(*) FROM ingest_unit GROUP BY 1") == [("done", units)]
    n = rows(db_url, "SELECT n_positions FROM corpus")[0][0]
    facts = rows(db_url, "SELECT count(*) FROM checkpoint_token")[0][0]
    assert facts == len(SIZES) * len(SEEDS) * len(STEPS) * n
    # Published exactly once: the server's own counters saw each fact row inserted once and none deleted (a unit
    # published twice replaces its rows, which would count deletions and extra insertions).
    rows(db_url, "SELECT pg_stat_clear_snapshot()")
    # (the rows live in the corpus's partition of checkpoint_token: count over the partition tree)
    [(inserted, deleted)] = rows(
        db_url,
        "SELECT sum(n_tup_ins)::bigint, sum(n_tup_del)::bigint FROM pg_stat_user_tables "
        "WHERE relid IN (SELECT relid FROM pg_partition_tree('checkpoint_token'))",
    )
    assert (inserted, deleted) == (facts, 0)
    runs = rows(
        db_url, "SELECT arguments->>'cache_policy' FROM ingest_run WHERE arguments ? 'worker' AND status = 'done'"
    )
    assert runs == [("evict",)] * 3


def test_kubernetes_job_is_an_indexed_job_with_a_gpu_and_a_cache_per_pod():
    job = yaml.safe_load((CLUSTER / "ingest-job.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] >= 1
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    [container] = pod["containers"]
    assert container["command"][-1].endswith("/docs/cluster/ingest-task.sh")
    env = {e["name"]: e for e in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "convdiv-db"  # never a password in the file
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    scratch = env["CONVDIV_SCRATCH"]["value"]
    [mount] = container["volumeMounts"]
    assert mount["mountPath"] == scratch
    [volume] = pod["volumes"]
    assert volume["name"] == mount["name"] and "emptyDir" in volume  # each pod its own Hub cache


def test_devices_runs_one_worker_process_per_listed_device(engine, settings, db_url, suite_root):
    S.add_tiny_corpus(engine, suite_root)
    summary = ingest(
        engine,
        settings,
        str(suite_root),
        S.CORPUS,
        sizes="xs",
        devices="cpu,cpu",
        memory_budget_gb=0.001,
        progress=False,
    )
    assert summary.units_done == len(S.STEPS) and summary.units_failed == 0
    assert sorted(r.worker for r in summary.workers) == [0, 1]
    runs = rows(
        db_url,
        "SELECT arguments->>'worker', arguments->>'device', arguments->'devices', host "
        "FROM ingest_run WHERE arguments ? 'worker' ORDER BY 1",
    )
    assert [(w, d, devs) for w, d, devs, _ in runs] == [("0", "cpu", ["cpu", "cpu"]), ("1", "cpu", ["cpu", "cpu"])]
    assert len({host for *_, host in runs}) == 2  # two processes (host:pid)
    assert summary.device == "cpu, cpu"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--devices", "cpu,tpu"], "unknown device 'tpu': expected auto, cpu, cuda or cuda:N"),
        (["--devices", "cpu,cpu", "--workers", "3"], "--workers 3 and --devices cpu,cpu disagree"),
        (["--devices", ","], "--devices: give at least one device"),
    ],
)
def test_bad_devices_get_one_line_before_any_work(args, message, engine, db_url, tmp_path, suite_root):
    S.add_tiny_corpus(engine, suite_root)
    proc = subprocess.run(
        [CONVDIV, "ingest", str(suite_root), "--corpus", S.CORPUS, "--no-progress", *args],
        env={**hub_env(tmp_path / "hub", tmp_path, db_url)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    [line] = proc.stderr.strip().splitlines()
    assert message in line
    assert rows(db_url, "SELECT count(*) FROM ingest_unit")[0][0] == 0
