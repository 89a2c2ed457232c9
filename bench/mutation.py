"""Mutation score of the core modules: mutmut 3 puts one-line faults into one module and runs only that
module's own tests against each; a fault no test notices is a "survivor".

    SMART_SUPPORT_VAR_DIR=... .venv/bin/python bench/mutation.py replay/timeline.py analytics/sync.py
    .venv/bin/python bench/mutation.py --list            # the modules and the tests each is scored by
    .venv/bin/python bench/mutation.py analytics/sync.py --mutants 'analytics.sync.x_sync_recent*'   # some functions

The tool lives in a virtualenv of its own under ``var/mutation/venv`` (made on first use from
requirements.txt plus mutmut), so the project's environment does not depend on it. Each module is
scored in a fresh copy of the work tree under ``var/mutation/<module>`` with its own ``setup.cfg``;
the tests use a database of their own per module on the embedded server
(``DATABASE_NAME=smart_support_mutation_<module>``), so a mutation run shares a test database neither with an
ordinary test run nor with another module scored at the same time. One mutant at a time per module: this is
a 2-core machine. Prints killed/total per module and every survivor; ``mutmut show <name>`` in the
module's copy shows its diff.
"""

from __future__ import annotations

import argparse
import fnmatch
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
MUTMUT = "mutmut==3.8.1"

# Each module is scored by the tests that are about it, so a run fits in an hour.
MODULE_TESTS: dict[str, list[str]] = {
    # every test that reads a thread's steps off build_timeline (old releases' formats left out: they
    # need a virtualenv per release)
    "replay/timeline.py": [
        "tests/replay/test_timeline.py", "tests/replay/test_resume_values.py", "tests/replay/test_tutorial_timeline.py",
        "tests/replay/test_middleware_timeline.py", "tests/replay/test_functional_timeline.py",
        "tests/replay/test_email_assistant_timeline.py", "tests/replay/test_breakpoints.py",
        "tests/replay/test_static_breakpoints.py", "tests/replay/test_corrupt_checkpoints.py",
        "tests/replay/test_agent_middleware.py", "tests/replay/test_timeline_steps.py", "tests/replay/test_timeline_edges.py",
        "tests/replay/test_timeline_step_fields.py",
    ],
    "analytics/sync.py": [
        "tests/analytics/test_backfill.py", "tests/analytics/test_sync_faults.py", "tests/analytics/test_live_sync.py",
        "tests/analytics/test_backfill_options.py", "tests/analytics/test_sharded_sync.py",
        "tests/replay/test_prune_checkpoints.py", "tests/analytics/test_event_partitions.py",
        "tests/analytics/test_follow_loop.py", "tests/analytics/test_sync_selection.py", "tests/replay/test_prune_races.py",
    ],
    # a thread's steps -> its events and its conversation row (the measures read off them included)
    "analytics/derive.py": [
        "tests/analytics/test_derive.py", "tests/analytics/test_derive_edges.py", "tests/analytics/test_conversation_rows.py",
        "tests/analytics/test_measures.py", "tests/analytics/test_latencies.py", "tests/analytics/test_middleware_numbers.py",
    ],
    # every number of get_analytics and /api/analytics, from rows and from rollups
    "analytics/queries.py": [
        "tests/analytics/test_queries.py", "tests/analytics/test_query_edges.py", "tests/analytics/test_api.py",
        "tests/analytics/test_measures.py", "tests/analytics/test_breakdowns.py",
    ],
    # the registry: each measure's value per conversation, its column, its sum and its API field
    "analytics/measures.py": [
        "tests/analytics/test_measures.py", "tests/analytics/test_derive.py", "tests/analytics/test_derive_edges.py",
        "tests/analytics/test_conversation_rows.py", "tests/analytics/test_queries.py", "tests/analytics/test_api.py",
    ],
}


# Tests that run manage.py in a subprocess: it runs outside mutmut's instrumentation and has hung a run;
# what they check is scored by the in-process tests of the same module.
OUT_OF_PROCESS_TESTS = [
    "tests/analytics/test_sync_faults.py::test_sigkill_at_any_point_of_a_rebuild_never_lowers_the_dashboard",
    "tests/analytics/test_backfill.py::test_bad_date_exits_2_with_one_line",
    # --workers 2 forks a process pool inside mutmut's own forked child, whose threads may hold a lock at
    # the fork: the pool then hangs until mutmut's timeout, a "kill" that says nothing of the mutant. What a
    # worker runs is scored in-process by test_a_worker_process_derives_its_batch_and_stops_on_sigterm.
    "tests/analytics/test_backfill.py::test_parallel_workers_write_the_same_rows_as_one_process",
    "tests/analytics/test_sync_faults.py::test_the_lock_is_held_while_worker_processes_derive",
]


# Imported once by mutmut's fork server: libraries that need no settings and start no thread at import.
PRELOADED_LIBRARIES = (
    "django.db.models", "django.test", "rest_framework.serializers", "langgraph.graph", "langgraph.types",
    "langgraph.checkpoint.postgres", "langchain_core.messages", "langchain_core.language_models.fake_chat_models",
    "psycopg", "psycopg_pool", "pytest_django", "factory", "time_machine",
)


TIMEOUT_SECONDS = 180
UNUSED_PYTEST_PLUGINS = ("faker", "hypothesispytest", "schemathesis", "langsmith_plugin", "anyio")


def var_dir() -> Path:
    return Path(os.environ.get("SMART_SUPPORT_VAR_DIR", PROJECT_DIR / "var"))


def tool_python() -> Path:
    """mutmut's own virtualenv: the project's requirements plus mutmut, made once."""
    venv = var_dir() / "mutation" / "venv"
    python = venv / "bin" / "python"
    if not (venv / "bin" / "mutmut").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(PROJECT_DIR / "requirements.txt"), MUTMUT], check=True
        )
    return python


def prepare_copy(module: str, tests: list[str]) -> Path:
    """A fresh copy of the work tree (tracked and new files) with a setup.cfg naming the module and its tests."""
    copy = var_dir() / "mutation" / module.replace("/", "_").removesuffix(".py")
    shutil.rmtree(copy, ignore_errors=True)
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=PROJECT_DIR, check=True, capture_output=True, text=True
    ).stdout.split()
    for name in files:
        if (PROJECT_DIR / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_DIR / name, copy / name)
    top_level = sorted({name.split("/")[0] for name in files if "/" in name} - {"tests", ".ci"})
    also_copy = sorted({name for name in files if "/" not in name} | {"templates", "bench"})
    (copy / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths =\n" + "".join(f"    {path}\n" for path in top_level if path not in {"templates", "bench"})
        + f"only_mutate =\n    {module}\n"
        + "also_copy =\n" + "".join(f"    {path}\n" for path in also_copy)
        # forkserver warmed up by importing libraries only: forking a process that has run or collected the
        # tests (threads of psycopg's pool and of the embedded server's helpers) hangs now and then on a
        # lock a thread held; importing LangGraph, LangChain and Django once saves each mutant seconds;
        # --reuse-db: each mutant is a pytest session of its own, and migrating a test database per mutant
        # would cost more than most mutants' tests
        + "process_isolation = forkserver\nforkserver_warmup = import\npreload_modules_file = preload.txt\n"
        # mutmut times a mutant out at 15 x its tests' "call" time + this: the tests that derive in fixtures
        # spend their time in setup, so with mutmut's 1 s a slow machine "timed out" mutants no test noticed;
        # with 3 minutes more, a timeout is a run that hung
        + f"timeout_constant = {TIMEOUT_SECONDS}\n"
        # plugins no scored test uses, whose imports cost each mutant a second or more of CPU
        + "pytest_add_cli_args =\n    --no-cov\n    --reuse-db\n"
        + "".join(f"    -p\n    no:{plugin}\n" for plugin in UNUSED_PYTEST_PLUGINS)
        + "".join(f"    --deselect\n    {test}\n" for test in OUT_OF_PROCESS_TESTS)
        + "pytest_add_cli_args_test_selection =\n" + "".join(f"    {test}\n" for test in tests)
    )
    (copy / "preload.txt").write_text("\n".join(PRELOADED_LIBRARIES) + "\n")
    return copy


def score(module: str, tests: list[str], *, python: Path, mutants: list[str], sample: int = 0, seed: int = 0) -> dict:
    """Run the module's mutants (those ``mutants`` name, else all) in a fresh copy; ``sample``: only that
    many of them, drawn at random (``seed``) once mutmut has generated them."""
    copy = prepare_copy(module, [test for test in tests if (PROJECT_DIR / test).exists()])
    database = "smart_support_mutation_" + copy.name
    # One embedded server for the copy and for mutmut's mutants/ tree inside it, where the tests run: each
    # would otherwise start its own under its own var/, and the test database dropped below is the tests' own.
    env = {
        "SMART_SUPPORT_VAR_DIR": str(copy / "var"),
        **os.environ, "DATABASE_NAME": database, "PYTHONUNBUFFERED": "1", "DEBUG": "true",
    }
    started = time.monotonic()
    log = copy / "mutmut-run.log"
    population = 0
    with log.open("w") as out, database_server_held(copy, env=env):
        # every mutant reuses one test database: start from a new one, not from rows a killed run left
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             "from django.db import connection; connection.cursor().execute("
             f"'DROP DATABASE IF EXISTS test_{database} WITH (FORCE)')"],
            cwd=copy, env={**env, "DATABASE_NAME": "postgres"}, check=True,
        )
        if sample:
            # a run that matches no mutant generates them all and collects mutmut's stats, then stops
            subprocess.run(
                [str(python), "-m", "mutmut", "run", "--max-children", "1", "no-such-mutant"],
                cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
            names = sorted(read_statuses(copy, python=python))
            candidates = [name for name in names if not mutants or any(fnmatch.fnmatchcase(name, m) for m in mutants)]
            population = len(candidates)
            mutants = sorted(random.Random(seed).sample(candidates, min(sample, population)))
        subprocess.run(
            [str(python), "-m", "mutmut", "run", "--max-children", "1", *mutants],
            cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    statuses = read_statuses(copy, python=python)
    if sample:
        statuses = {name: statuses.get(name, "not checked") for name in mutants}
    return {
        "module": module, "copy": copy, "statuses": statuses, "minutes": (time.monotonic() - started) / 60,
        "sampled_from": population,
    }


@contextmanager
def database_server_held(copy: Path, *, env: dict[str, str]) -> Iterator[None]:
    """Keep the copy's database server up across mutmut's runs. The embedded server stops when the last
    process using it exits: the run that generates the mutants and collects mutmut's stats is the last one
    for a moment, and the next run's clean tests then fail against a server shutting down."""
    holder = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c",
         "import sys; from django.db import connection; connection.ensure_connection(); "
         "print('up', flush=True); sys.stdin.read()"],
        cwd=copy, env={**env, "DATABASE_NAME": "postgres"}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        if "up" not in (line.strip() for line in holder.stdout):  # after Django's own lines, if any
            raise SystemExit(f"the database server of {copy} did not start")
        yield
    finally:
        holder.stdin.close()  # the holder reads to end of input, then exits
        holder.wait(timeout=60)


def wilson_interval(killed: int, checked: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % interval of a kill rate measured on a random sample of mutants."""
    if not checked:
        return 0.0, 1.0
    rate = killed / checked
    centre = (rate + z * z / (2 * checked)) / (1 + z * z / checked)
    spread = z * math.sqrt(rate * (1 - rate) / checked + z * z / (4 * checked * checked)) / (1 + z * z / checked)
    return centre - spread, centre + spread


def read_statuses(copy: Path, *, python: Path) -> dict[str, str]:
    """Each mutant's status in a module's copy, as its last mutmut run left it (empty when there is none)."""
    if not (copy / "mutants").exists():
        return {}
    results = subprocess.run(
        [str(python), "-m", "mutmut", "results", "--all", "true"], cwd=copy, capture_output=True, text=True
    ).stdout
    statuses: dict[str, str] = {}
    for line in results.splitlines():
        match = re.match(r"\s*([\w.]+__mutmut_\d+): (.+)$", line)
        if match:
            statuses[match.group(1)] = match.group(2).strip()
    return statuses


def report(result: dict) -> None:
    statuses = result["statuses"]
    killed = sum(1 for status in statuses.values() if status in {"killed", "timeout"})
    total = sum(1 for status in statuses.values() if status not in {"skipped", "not checked"})
    percent = 100 * killed / total if total else 0.0
    timeouts = sum(1 for status in statuses.values() if status == "timeout")
    print(
        f"{result['module']}: {killed}/{total} killed ({percent:.1f} %; {timeouts} of them by a run that hung) "
        f"in {result['minutes']:.0f} min"
    )
    if result.get("sampled_from"):
        low, high = wilson_interval(killed, total)
        print(
            f"    a random {total} of its {result['sampled_from']} mutants: the module's kill rate is "
            f"{100 * low:.1f}–{100 * high:.1f} % (95 % interval)"
        )
    for name, status in sorted(statuses.items()):
        if status not in {"killed", "timeout"}:
            print(f"    {status}: {name}")
    print(f"    (diffs: cd {result['copy']} && {tool_python()} -m mutmut show <name>)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="e.g. replay/timeline.py; default: every module listed")
    parser.add_argument("--list", action="store_true", help="print each module and the tests that score it")
    parser.add_argument(
        "--mutants", nargs="+", default=[], metavar="PATTERN",
        help="only the mutants whose names match (fnmatch), e.g. 'analytics.sync.x_follow*'; the others stay unchecked",
    )
    parser.add_argument(
        "--again", action="store_true",
        help="run again only the mutants the module's last run did not kill, timeouts included (after new tests); "
        "with --mutants, also every mutant of the functions those patterns name, whose code changed since: "
        "the last run's results for them are dropped",
    )
    parser.add_argument(
        "--sample", type=int, default=0, metavar="N",
        help="score a random N of the module's mutants (of those --mutants names), for a module too slow to run "
        "whole; prints the 95 %% interval of its kill rate",
    )
    parser.add_argument("--seed", type=int, default=0, help="which random sample (default 0)")
    options = parser.parse_args()
    if options.list:
        for module, tests in MODULE_TESTS.items():
            print(module, " ".join(tests))
        return
    modules = options.modules or [module for module in MODULE_TESTS if (PROJECT_DIR / module).exists()]
    unknown = [module for module in modules if module not in MODULE_TESTS]
    if unknown:
        parser.error(f"no tests listed for {', '.join(unknown)}; known: {', '.join(MODULE_TESTS)}")
    python = tool_python()
    for module in modules:
        if not options.again:
            report(score(
                module, MODULE_TESTS[module], python=python, mutants=options.mutants, sample=options.sample,
                seed=options.seed,
            ))
            continue
        # the last run's kills stand (the module is unchanged); the rest, timeouts included, run again
        # against today's tests
        previous = read_statuses(var_dir() / "mutation" / module.replace("/", "_").removesuffix(".py"), python=python)
        # a changed function's mutants are numbered anew: what the last run said of its old ones is void
        previous = {
            name: status for name, status in previous.items()
            if not any(fnmatch.fnmatchcase(name, pattern) for pattern in options.mutants)
        }
        again = sorted(name for name, status in previous.items() if status != "killed") + options.mutants
        if not again:
            print(f"{module}: nothing to run again")
            continue
        result = score(module, MODULE_TESTS[module], python=python, mutants=again)
        rerun = {
            name for name in result["statuses"]
            if name in again or any(fnmatch.fnmatchcase(name, pattern) for pattern in options.mutants)
        }
        result["statuses"] = {**previous, **{name: result["statuses"].get(name, "not checked") for name in rerun}}
        report(result)


if __name__ == "__main__":
    main()
