"""Campaigns kept incrementally are exactly the connected components of shared traces."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from portal.models import Campaign, CampaignMember, Report, Trace
from portal.services import campaigns
from portal.services.reports import ReportSubmission, submit_report


def _components(traces: dict[int, set[str]]) -> set[frozenset[int]]:
    parent = {report: report for report in traces}

    def find(node: int) -> int:
        while parent[node] != node:
            node = parent[node]
        return node

    holder: dict[str, int] = {}
    for report, values in traces.items():
        for value in values:
            if value in holder:
                parent[find(report)] = find(holder[value])
            else:
                holder[value] = report
    groups: dict[int, set[int]] = {}
    for report in traces:
        groups.setdefault(find(report), set()).add(report)
    return {frozenset(group) for group in groups.values()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_campaigns_match_connected_components(app, db, seed):
    rng = random.Random(seed)
    indexer, keyring = app.extensions["blind_indexer"], app.extensions["keyring"]
    hasher = app.extensions["receipt_hasher"]
    given: dict[int, set[str]] = {}
    for _ in range(30):
        report, _ = submit_report(
            db,
            ReportSubmission("fraud", "website", "x", [], "MA-CAS"),
            keyring=keyring,
            hasher=hasher,
            indexer=app.extensions["blind_indexer"],
        )
        # A handful of values shared at random, arriving in several steps (officers add some).
        values = {f"+2126610000{rng.randrange(40):02d}" for _ in range(rng.randrange(0, 3))}
        given[report.id] = set()
        for value in values:
            campaigns.add_traces(
                db,
                report,
                [campaigns.NewTrace("phone", value, "account")],
                indexer=indexer,
                keyring=keyring,
            )
            given[report.id].add(value)
        campaigns.ensure_member(db, report, now=report.submitted_at)
    db.commit()
    # Late additions to earlier reports merge campaigns that already exist.
    for report_id in rng.sample(sorted(given), 8):
        value = f"+2126610000{rng.randrange(40):02d}"
        report = db.get(Report, report_id)
        campaigns.add_traces(
            db,
            report,
            [campaigns.NewTrace("phone", value, "account")],
            indexer=indexer,
            keyring=keyring,
        )
        given[report_id].add(value)
    db.commit()
    db.expire_all()

    kept: dict[int, set[int]] = {}
    for member in db.scalars(select(CampaignMember)):
        kept.setdefault(member.campaign_id, set()).add(member.report_id)
    assert {frozenset(group) for group in kept.values()} == _components(given)
    for campaign_id, group in kept.items():
        campaign = db.get(Campaign, campaign_id)
        assert campaign.merged_into_id is None and campaign.report_count == len(group)
    # Absorbed campaigns are empty and lead to a live one.
    for campaign in db.scalars(select(Campaign).where(Campaign.merged_into_id.is_not(None))):
        assert campaign.report_count == 0
        assert campaigns.resolve(db, campaign.id).id in kept
    assert db.scalar(select(func.count()).select_from(Trace)) == sum(map(len, given.values()))
