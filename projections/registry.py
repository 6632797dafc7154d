"""The live views, by name. `redwhistle project --rebuild NAME|all`, the
follower in `serve` and the auditors' replay all take them from here.

A module apart from projections/feed.py: it imports the views, which import
the feed, so in feed.py it would be a cycle."""
from __future__ import annotations

from projections.feed import View


def all_views() -> list[View]:
    # Imported here so a view module may import the registry's helpers freely.
    from projections.agenda.view import AgendaView
    from projections.dashboard.view import DashboardView
    from projections.issues.view import IssuesView
    from projections.rankings.view import RankingsView
    return [DashboardView(), AgendaView(), RankingsView(), IssuesView()]


def view_named(name: str) -> View:
    for view in all_views():
        if view.name == name:
            return view
    raise KeyError(name)
