"""The algorithm registry: the problem types (in order) and, per algorithm, its
DAG template family, the problem types it fits and its trainer. Read once, at
import, from this package's algorithms.tsv: in the repository a link to
share/algorithms.tsv, the file the C enums are generated from
(scripts/gen-algorithms); in an installed package a copy (package data).
No other I/O here; tests/test_registry.py checks the two sides agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

FILE = "algorithms.tsv"


@dataclass(frozen=True)
class Algorithm:
    name: str
    family: str                     # its DAG template: share/dags/{family}.py.in
    problem_types: tuple[str, ...]  # the problem types it fits
    trainer_module: str             # a module of automl_train.trainers ...
    trainer_function: str           # ... and the trainer function in it


def parse(text: str, where: str = FILE) -> tuple[tuple[str, ...], dict[str, Algorithm]]:
    """(problem types in order, {algorithm name: Algorithm} in order) from the
    registry's text; ValueError naming the line when it is malformed."""
    problem_types: list[str] = []
    algorithms: dict[str, Algorithm] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        f = line.split("\t")
        name = f[1] if len(f) > 1 else ""
        if name in problem_types or name in algorithms:
            raise ValueError(f"{where}:{n}: {name!r} is registered twice")
        if f[0] == "problem_type" and len(f) == 2 and name and not algorithms:
            problem_types.append(name)
            continue
        if f[0] == "algorithm" and len(f) == 5 and name and f[2]:
            fits = tuple(f[3].split(","))
            module, _, function = f[4].partition(":")
            if not set(fits) <= set(problem_types) or not module or not function:
                raise ValueError(f"{where}:{n}: bad problem types or trainer of {name!r}")
            algorithms[name] = Algorithm(name, f[2], fits, module, function)
            continue
        raise ValueError(f"{where}:{n}: not a problem_type or algorithm record")
    return tuple(problem_types), algorithms


PROBLEM_TYPES, ALGORITHMS = parse(
    resources.files(__package__).joinpath(FILE).read_text(encoding="utf-8"))
