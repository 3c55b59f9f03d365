#!/usr/bin/env python3
"""The Office 365 Management Activity API loop people write today, in plain Python `requests`:
the baseline `entra-token activity pull` is measured against (events per second, peak RSS).

It does what the usual script does, one step after the other: get an app-only token with a
client secret, list the available content of one content type in windows of at most 24 hours,
follow the `NextPageUri` header, GET every `contentUri`, and print every event as one JSON line.
One `requests.Session` is used (connections are reused); a 429 is retried after `Retry-After`.
There is no state, no dedupe and no concurrency: that is the point of the comparison.

usage:
  bench/activity_loop.py [--content-type Audit.General] [--hours 24 | --start T --end T] > events.ndjson

  # offline, against entra-token's emulator (it exports the variables below):
  entra-token emulator exec -- python3 bench/activity_loop.py --hours 60 > events.ndjson

  # or against an emulator started by hand (`entra-token emulator --port 0` prints its URL):
  AZURE_AUTHORITY_HOST=$EMU ENTRA_TOKEN_MANAGEMENT_URL=$EMU AZURE_TENANT_ID=... \\
  AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=... bench/activity_loop.py --hours 24

environment:
  AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET   the app and its secret (required)
  AZURE_AUTHORITY_HOST        default https://login.microsoftonline.com
  ENTRA_TOKEN_MANAGEMENT_URL  the Management API base, default https://manage.office.com
  REQUESTS_CA_BUNDLE          a private CA (honoured by requests itself)

--start/--end take the API's own form (2026-11-20T00:00:00, UTC). The tenant id must be the
token's tenant (a GUID). The PublisherIdentifier is the tenant id. Diagnostics go to stderr.
"""
import argparse
import datetime as dt
import json
import os
import sys
import time

import requests

MANAGE = "https://manage.office.com"
MAX_WINDOW = dt.timedelta(hours=24)
FORMAT = "%Y-%m-%dT%H:%M:%S"


def get_token(session, authority, tenant, client_id, secret):
    reply = session.post(
        f"{authority.rstrip('/')}/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": f"{MANAGE}/.default",
        },
    )
    reply.raise_for_status()
    return reply.json()["access_token"]


def get(session, url, headers, params=None):
    for _ in range(5):
        reply = session.get(url, headers=headers, params=params)
        if reply.status_code == 429:
            time.sleep(float(reply.headers.get("Retry-After", "1")))
            continue
        reply.raise_for_status()
        return reply
    reply.raise_for_status()
    return reply


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--content-type", default="Audit.General")
    ap.add_argument("--hours", type=float, default=24, help="the last N hours (default 24)")
    ap.add_argument("--start", help="window start, UTC (overrides --hours)")
    ap.add_argument("--end", help="window end, UTC (default now)")
    a = ap.parse_args()

    tenant = os.environ["AZURE_TENANT_ID"]
    authority = os.environ.get("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com")
    base = os.environ.get("ENTRA_TOKEN_MANAGEMENT_URL", MANAGE).rstrip("/")
    end = dt.datetime.strptime(a.end, FORMAT) if a.end else dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    start = dt.datetime.strptime(a.start, FORMAT) if a.start else end - dt.timedelta(hours=a.hours)

    session = requests.Session()
    token = get_token(session, authority, tenant, os.environ["AZURE_CLIENT_ID"], os.environ["AZURE_CLIENT_SECRET"])
    headers = {"Authorization": f"Bearer {token}"}
    feed = f"{base}/api/v1.0/{tenant}/activity/feed"

    blobs = events = 0
    out = sys.stdout
    window_start = start
    while window_start < end:
        window_end = min(window_start + MAX_WINDOW, end)
        url = f"{feed}/subscriptions/content"
        params = {
            "contentType": a.content_type,
            "startTime": window_start.strftime(FORMAT),
            "endTime": window_end.strftime(FORMAT),
            "PublisherIdentifier": tenant,
        }
        while url:
            page = get(session, url, headers, params)
            for content in page.json():
                blob = get(session, content["contentUri"], headers, {"PublisherIdentifier": tenant})
                for event in blob.json():
                    out.write(json.dumps(event) + "\n")
                    events += 1
                blobs += 1
            url, params = page.headers.get("NextPageUri"), None
        window_start = window_end
    out.flush()
    print(f"{blobs} blobs, {events} events", file=sys.stderr)


if __name__ == "__main__":
    main()
