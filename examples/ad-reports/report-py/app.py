"""Ad reports, monthly run, in Python: on each tick (``0 6 1 * *`` in the advertisers' time
zone, given as the schedule payload ``{"timezone": "..."}``) builds last month's report for
every advertiser from the aggregates ``ads-ingest`` keeps, stores it where ``ads`` serves it,
and announces it on ``<tenant>.report-ready`` when the node has Kafka.

The same kv layout and numbers as the Rust function (examples/ad-reports/report); see
examples/ad-reports/model for the layout.
"""

import io
import json
import os
from datetime import datetime
from zoneinfo import ZoneInfo

import geyser
from geyser import kv

METRICS = ["impressions", "clicks", "conversions", "spend_cents", "revenue_cents", "reach"]


def previous_month(scheduled_time: str, tz: ZoneInfo) -> str:
    """The month before the tick's scheduled time, on the wall clock of ``tz``."""
    at = datetime.fromisoformat(scheduled_time.replace("Z", "+00:00")).astimezone(tz)
    year, month = (at.year - 1, 12) if at.month == 1 else (at.year, at.month - 1)
    return f"{year:04d}-{month:02d}"


def _read_zones() -> dict:
    """Every zone of the tzdata package, as bytes. Read when the module is imported, which is
    at build time: componentize-py snapshots the interpreter then, and the component has no
    files at run time (so neither ``zoneinfo``'s own lookup nor tzdata's files work there)."""
    import tzdata

    root = os.path.join(os.path.dirname(tzdata.__file__), "zoneinfo")
    zones = {}
    for directory, _, files in os.walk(root):
        for file in files:
            path = os.path.join(directory, file)
            with open(path, "rb") as handle:
                data = handle.read()
            if data.startswith(b"TZif"):
                zones[os.path.relpath(path, root)] = data
    return zones


ZONES = _read_zones()


def zone(name: str) -> ZoneInfo:
    data = ZONES.get(name)
    if data is None:
        raise ValueError(f"unknown time zone {name!r} in the schedule payload")
    return ZoneInfo.from_file(io.BytesIO(data), key=name)


def timezone(payload) -> ZoneInfo:
    return zone((payload or {}).get("timezone", "UTC"))


def ratio(num: int, den: int) -> float:
    return 0.0 if den == 0 else num / den


def build_report(advertiser: str, month: str) -> dict:
    """Builds (and stores) the report of ``advertiser`` for ``month`` from the aggregates."""
    values = {m: kv.increment(f"agg/{advertiser}/{month}/{m}", 0) for m in METRICS}
    report = {
        "advertiser": advertiser,
        "month": month,
        "impressions": values["impressions"],
        "reach": values["reach"],
        "clicks": values["clicks"],
        "ctr": ratio(values["clicks"], values["impressions"]),
        "spend_cents": values["spend_cents"],
        "conversions": values["conversions"],
        "revenue_cents": values["revenue_cents"],
        "roi": ratio(values["revenue_cents"] - values["spend_cents"], values["spend_cents"]),
    }
    kv.set_json(f"report/{advertiser}/{month}", report)
    return report


@geyser.on_schedule
def on_tick(tick: geyser.Tick) -> None:
    tz = timezone(tick.json())
    month = previous_month(tick.scheduled_time, tz)
    advertisers = [key[len("adv/") :] for key in kv.list_keys("adv/", 10_000)]
    for advertiser in advertisers:
        report = build_report(advertiser, month)
        note = {"advertiser": advertiser, "month": month}
        try:
            geyser.publish("report-ready", json.dumps(note, separators=(",", ":")), key=advertiser)
        except geyser.PublishError as err:
            geyser.log.warn(f"report {advertiser}/{month} stored; not announced: {err}")
        geyser.log.info(f"report {advertiser}/{month}: {report['impressions']} impressions")
    geyser.log.info(f"built {len(advertisers)} reports for {month}")
