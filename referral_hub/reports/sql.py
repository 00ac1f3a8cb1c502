"""SQL pieces the reports need that the two databases spell differently.

Durations: PostgreSQL subtracts timestamps; SQLite stores UTC text, so it goes through
`julianday`. Percentiles: SQLite has no `percentile_cont`, so both databases use the
nearest-rank definition built from window functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Float, Select, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

PERCENTS = (50, 90)


class seconds_between(FunctionElement[float]):  # lower case, like the SQL functions it joins
    """`seconds_between(later, earlier)`: the interval in seconds, NULL if either is NULL."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between)  # PostgreSQL, and the default for printing a statement
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later}) - ({earlier}))"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def nearest_rank(
    values: Select[Any], percents: Sequence[int] = PERCENTS, *, grouped: bool = False
) -> Select[*tuple[Any, ...]]:
    """One row over the single column of `values` (NULLs left out): `observed`, how many
    values there are, and `p<N>` for each N of `percents`. With `grouped`, `values` has two
    columns, a group and the value: one such row per group, its first column `grp`.

    Nearest rank: with the n values in ascending order, the P-th percentile is the value
    at rank ceil(P * n / 100), so every figure is a duration that really happened (the
    median of an even count is the lower middle value). ceil is written as integer
    division, `(P * n + 99) // 100`, which both databases compute the same way.
    """
    inner = values.subquery("observed")
    columns = list(inner.c)
    group = columns[0] if grouped else None
    value = columns[-1]
    ranked = (
        select(
            *([group.label("grp")] if group is not None else []),
            value.label("value"),
            func.row_number().over(partition_by=group, order_by=value).label("position"),
            func.count().over(partition_by=group).label("n"),
        )
        .where(value.is_not(None))
        .subquery("ranked")
    )
    wanted = [
        func.max(case((ranked.c.position == (p * ranked.c.n + 99) // 100, ranked.c.value))).label(
            f"p{p}"
        )
        for p in percents
    ]
    if group is None:
        return select(func.count().label("observed"), *wanted).select_from(ranked)
    return select(ranked.c.grp, func.count().label("observed"), *wanted).group_by(ranked.c.grp)
