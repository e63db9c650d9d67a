#!/usr/bin/env python3
"""Seeds a realistic month of ad events for the ad-reports example and prints what the reports
must say.

Events go to the ingest function through Geyser's manual event hook
(POST /v1/functions/NAME/events), the same body a Kafka record on `<tenant>.ad-events` carries.

Usage: GEYSER_URL=... GEYSER_API_KEY=... seed.py [--month 2026-10] [--advertisers 50]
       [--events-per-advertiser 100] [--function ads-ingest] [--seed 7] [--dry-run]
"""
import argparse
import collections
import concurrent.futures
import json
import os
import random
import sys
import urllib.request


def generate(month, advertisers, per_advertiser, seed):
    rng = random.Random(seed)
    events = []
    for a in range(advertisers):
        advertiser = f"adv-{a:03d}"
        users = [f"u{rng.randrange(100000)}" for _ in range(rng.randint(20, 400))]
        campaigns = [f"c{c}" for c in range(rng.randint(1, 5))]
        for _ in range(per_advertiser):
            kind = rng.choices(["impression", "click", "conversion"], weights=[90, 8, 2])[0]
            day = rng.randint(1, 28)
            events.append({
                "advertiser": advertiser,
                "campaign": rng.choice(campaigns),
                "kind": kind,
                "user": rng.choice(users),
                "ts": f"{month}-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
                "spend_cents": rng.randint(1, 9) if kind == "impression" else 0,
                "revenue_cents": rng.randint(500, 20000) if kind == "conversion" else 0,
            })
    return events


def expected(events):
    out = collections.defaultdict(lambda: {"impressions": 0, "reach": set(), "clicks": 0,
                                           "conversions": 0, "spend_cents": 0, "revenue_cents": 0})
    for e in events:
        agg = out[e["advertiser"]]
        if e["kind"] == "impression":
            agg["impressions"] += 1
            agg["reach"].add(e["user"])
        elif e["kind"] == "click":
            agg["clicks"] += 1
        else:
            agg["conversions"] += 1
        agg["spend_cents"] += e["spend_cents"]
        agg["revenue_cents"] += e["revenue_cents"]
    return {a: {**v, "reach": len(v["reach"])} for a, v in sorted(out.items())}


def post(url, key, event):
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--advertisers", type=int, default=50)
    parser.add_argument("--events-per-advertiser", type=int, default=100)
    parser.add_argument("--function", default="ads-ingest")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dry-run", action="store_true", help="only print the expected reports")
    args = parser.parse_args()

    events = generate(args.month, args.advertisers, args.events_per_advertiser, args.seed)
    if not args.dry_run:
        base = os.environ.get("GEYSER_URL", "http://127.0.0.1:8080").rstrip("/")
        key = os.environ["GEYSER_API_KEY"]
        url = f"{base}/v1/functions/{args.function}/events?topic=ad-events"
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            statuses = collections.Counter(pool.map(lambda e: post(url, key, e), events))
        print(f"delivered {len(events)} events: {dict(statuses)}", file=sys.stderr)
    json.dump(expected(events), sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
