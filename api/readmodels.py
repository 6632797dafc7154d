"""What every read-model endpoint shares: read-your-writes and CSV.

`?after=POS` waits (up to 5 s) until the views have processed log position
POS, the `position` a write returned, instead of making the client poll. It
asks the database: the follower usually runs in another process. A position
beyond the log's head is refused at once (409); the waiters park on the event
loop, not in threads, and beyond `MAX_WAITERS` a reader is told to come
back (503 with Retry-After).
`Accept: text/csv` or `?format=csv` turns a list of rows into a spreadsheet
for people: UTF-8 with a byte-order mark (without one Excel reads the file
in the local code page and Chinese turns to mojibake), rates rounded.
"""
from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.auth import services
from projections.rankings.query import half_up
from projections.registry import all_views
from projections.feed import TooManyWaiters, ViewsWatch
from service_layer.bootstrap import Services


async def fresh(request: Request,
                after: int | None = Query(None, ge=0, description="wait until the views reach "
                                          "this log position (read-your-writes)"),
                svc: Services = Depends(services)) -> None:
    if not after:
        return
    head = await run_in_threadpool(svc.app.recorder.max_notification_id) or 0
    if after > head:
        raise HTTPException(409, detail=f"after={after} is beyond the log's head, position "
                                        f"{head}: pass the position a write returned")
    watch = getattr(request.app.state, "views_watch", None)
    if watch is None:
        watch = request.app.state.views_watch = ViewsWatch(svc.log, all_views(),
                                                           svc.settings.max_waiters)
    try:
        reached = await watch.wait(after, timeout=5.0)
    except TooManyWaiters as exc:
        raise HTTPException(503, detail=f"{exc}; retry", headers={"Retry-After": "1"}) from None
    if not reached:
        raise HTTPException(504, detail=f"views have not reached position {after} yet; retry")


def wants_csv(request: Request) -> bool:
    return (request.query_params.get("format") == "csv"
            or "text/csv" in request.headers.get("accept", ""))


# Decimals of a figure in every CSV (docs/dashboard.md, "CSV"; the rankings
# are rounded so already, docs/rankings.md). JSON answers carry them unrounded.
CSV_DECIMALS = {"response_rate": 4, "resolution_rate": 4, "satisfaction_rate": 4,
                "first_contact_satisfaction_rate": 4, "three_rates_score": 2}


def _cell(column: str, value: Any) -> Any:
    if value is None:
        return ""
    if column in CSV_DECIMALS and isinstance(value, float):
        return half_up(value, CSV_DECIMALS[column])
    return value


def csv_response(rows: list[dict[str, Any]], filename: str,
                 columns: list[str] | None = None) -> Response:
    columns = columns or (list(rows[0]) if rows else [])
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(k, v) for k, v in row.items()})
    disposition = (f'attachment; filename="{filename}"' if filename.isascii() else
                   f"attachment; filename*=UTF-8''{quote(filename)}")
    return Response(out.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": disposition})
