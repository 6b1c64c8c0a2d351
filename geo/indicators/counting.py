"""The timeline's counters, counted straight from ``incident_history`` over a time range.

Every indicator is made from these sums over the rows appended to the timeline in the period
(the rows' own snapshot columns, never the incident as it is now), so a past period's figures
never change when incidents move on:

==================  ==========================================================================
counter             rows (``step`` as the workflow engine writes it)
==================  ==========================================================================
reports             step ``report``
registered          step ``register``
rejected, merged    step ``reject``, ``merge``
handled             step ``handle``
handle_timed        handle rows whose ``on_time`` is known; handled_on_time: ``on_time`` true
reworks             step ``rework``
closed              step ``close``; closed_on_time: close rows with ``on_time`` true
verify_timed        verify rows (step ``verify``, or a row the workflow marks as an on-site 核实 in
                    its changes, e.g. an illegal structure's verification that registers it) whose
                    punctuality is known (the mark's ``check_on_time``, else ``on_time``);
                    verified_on_time: on time
check_timed         check rows (step ``check``, or marked 核查: a case's check that closes it, a
                    return for re-work, a hazard's re-inspection) likewise; checked_on_time
supervised          step ``supervise``
overdue             step ``overdue`` (an incident's first escalation for a deadline)
work_hours_n, _sum  handle rows with ``work_hours``: their number and their sum
==================  ==========================================================================

Grouping (a *dimension*): ``grid`` the row's ``grid_id``; ``category``, ``department`` the
row's; ``worker`` the responder answerable for the counter: the reporter's responder
(``responder_id``) for reports, the one who verified or checked (``responder_id``) for the
verify and check counters, and the incident's assignee after the row (``assignee_id``) for every
other counter. A row that records a check and a close at once counts its check for the checker
and its close for the assignee. ``kind`` is the row's too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, cast, exists, func, or_, select
from sqlalchemy import String as SAString
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from geo.incidents.definitions import CHECKS
from geo.indicators.definitions import Counts
from geo.models import COUNTER_COLUMNS, IncidentHistory

H = IncidentHistory
DIMENSIONS = ("grid", "worker", "department", "category")
SUMS = (*COUNTER_COLUMNS, "work_hours_sum")
# Counters for which the worker is the responder who acted (responder_id), not the assignee.
RESPONDER_COUNTERS = frozenset({"reports", "verify_timed", "verified_on_time", "check_timed", "checked_on_time"})
ENDING_STEPS = ("close", "reject", "merge")
# How the workflow marks an on-site check in a row's changes: {"check": "核实" (verify) or "核查"
# (inspect), "check_on_time": whether it was done by the step's own deadline}. The row's own
# step may be another (a case's check closes it, a return is re-work, an illegal structure's
# verification registers it), and its on_time then measures that step.
VERIFY_MARK, INSPECT_MARK = CHECKS["verify"], CHECKS["inspect"]


def _mark() -> ColumnElement[Any]:
    return H.changes["check"].as_string()


def _is_verify() -> ColumnElement[bool]:
    return or_(H.step == "verify", _mark() == VERIFY_MARK)


def _is_check() -> ColumnElement[bool]:
    return or_(H.step == "check", _mark() == INSPECT_MARK)


def _check_on_time() -> ColumnElement[Any]:
    """A check's punctuality: the mark's, else the row's own."""
    return func.coalesce(H.changes["check_on_time"].as_boolean(), H.on_time)


def _timed(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(condition, H.on_time.is_not(None))


def _on_time(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(condition, H.on_time.is_(True))


def conditions() -> dict[str, ColumnElement[bool]]:
    """Counter -> the rows it counts."""
    handle, close = H.step == "handle", H.step == "close"
    checked = _check_on_time()
    return {
        "reports": H.step == "report",
        "registered": H.step == "register",
        "rejected": H.step == "reject",
        "merged": H.step == "merge",
        "handled": handle,
        "handle_timed": _timed(handle),
        "handled_on_time": _on_time(handle),
        "reworks": H.step == "rework",
        "closed": close,
        "closed_on_time": _on_time(close),
        "verify_timed": and_(_is_verify(), checked.is_not(None)),
        "verified_on_time": and_(_is_verify(), checked.is_(True)),
        "check_timed": and_(_is_check(), checked.is_not(None)),
        "checked_on_time": and_(_is_check(), checked.is_(True)),
        "supervised": H.step == "supervise",
        "overdue": H.step == "overdue",
        "work_hours_n": and_(handle, H.work_hours.is_not(None)),
    }


def sum_columns(only: Iterable[str] | None = None) -> list[ColumnElement[Any]]:
    """The counters as SUM(CASE ...) columns, labelled; those not in ``only`` are 0."""
    wanted = set(SUMS if only is None else only)
    out: list[ColumnElement[Any]] = []
    for name, condition in conditions().items():
        column = func.sum(case((condition, 1), else_=0)) if name in wanted else func.sum(0)
        out.append(func.coalesce(column, 0).label(name))
    hours = func.sum(case((and_(H.step == "handle", H.work_hours.is_not(None)), H.work_hours), else_=0.0))
    out.append(func.coalesce(hours if "work_hours_sum" in wanted else func.sum(0.0), 0.0).label("work_hours_sum"))
    return out


def key_expression(dim: str, responder: bool = False) -> ColumnElement[Any]:
    """The group key of a row as text ("" for none)."""
    columns: dict[str, ColumnElement[Any]] = {
        "grid": cast(H.grid_id, SAString),
        "worker": cast(H.responder_id if responder else H.assignee_id, SAString),
        "department": H.department.expression,
        "category": H.category.expression,
    }
    return func.coalesce(columns[dim], "")


def grouped_selects(
    dim: str,
    start: datetime,
    end: datetime,
    kind: str | None = None,
    grid_ids: Iterable[int] | None = None,
    by_day: ColumnElement[Any] | None = None,
) -> list[Select]:
    """SELECT [day,] key, kind, counters... of the rows in [start, end), grouped by key and kind
    (and ``by_day``, the row's day): one statement, or two for workers (the assignee's counters
    and the acting responder's)."""
    parts: list[tuple[bool, Iterable[str] | None]] = (
        [(False, set(SUMS) - RESPONDER_COUNTERS), (True, RESPONDER_COUNTERS)] if dim == "worker" else [(False, None)]
    )
    out = []
    for responder, only in parts:
        key = key_expression(dim, responder)
        kind_col = func.coalesce(H.kind, "")
        groups = [key, kind_col] if by_day is None else [by_day, key, kind_col]
        labelled = [key.label("key"), kind_col.label("kind")]
        if by_day is not None:
            labelled.insert(0, by_day.label("day"))
        stmt = select(*labelled, *sum_columns(only)).where(H.at >= start, H.at < end)
        out.append(_filtered(stmt, kind, grid_ids).group_by(*groups))
    return out


def _filtered(stmt: Select, kind: str | None, grid_ids: Iterable[int] | None) -> Select:
    if kind is not None:
        stmt = stmt.where(H.kind == kind)
    if grid_ids is not None:
        stmt = stmt.where(H.grid_id.in_(sorted(grid_ids)))
    return stmt


def add(into: dict[Any, Counts], key: Any, values: Mapping[Any, Any]) -> None:
    counts = into.setdefault(key, dict.fromkeys(SUMS, 0))
    for name in SUMS:
        counts[name] += values[name] or 0


def count_direct(
    session: Session,
    dim: str,
    start: datetime,
    end: datetime,
    kind: str | None = None,
    grid_ids: Iterable[int] | None = None,
) -> dict[str, Counts]:
    """Key -> counters of the timeline rows in [start, end), straight from the timeline."""
    out: dict[str, Counts] = {}
    if start >= end:
        return out
    for stmt in grouped_selects(dim, start, end, kind, grid_ids):
        for row in session.execute(stmt).mappings():
            add(out, row["key"], row)
    return out


def _owed_conditions(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    """Overdue rows in [start, end) of incidents that had not ended (no close, reject or merge
    row) before ``end``."""
    ending = aliased(H)
    return [
        H.step == "overdue",
        H.at >= start,
        H.at < end,
        ~exists().where(ending.incident_id == H.incident_id, ending.step.in_(ENDING_STEPS), ending.at < end),
    ]


def owed_open(
    session: Session,
    dim: str,
    start: datetime,
    end: datetime,
    kind: str | None = None,
    grid_ids: Iterable[int] | None = None,
) -> dict[str, int]:
    """The second term of 应结案数: key -> incidents that went overdue in [start, end) and had
    not ended (no close, reject or merge row) before ``end``; each counted once, in the group of
    its first overdue row in the period (the worker: that row's assignee)."""
    first = func.row_number().over(partition_by=H.incident_id, order_by=H.id)
    rows = select(key_expression(dim).label("key"), first.label("n")).where(*_owed_conditions(start, end))
    inner = _filtered(rows, kind, grid_ids).subquery()
    stmt = select(inner.c.key, func.count().label("n")).where(inner.c.n == 1).group_by(inner.c.key)
    return {row.key: row.n for row in session.execute(stmt)}


def owed_open_rows(start: datetime, end: datetime, kind: str | None, grid_ids: Iterable[int] | None) -> Select:
    """The overdue rows behind :func:`owed_open` (to list their incidents)."""
    return _filtered(select(H).where(*_owed_conditions(start, end)), kind, grid_ids)
