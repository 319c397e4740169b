"""The two deployments `ciw serve` operates, built in one place.

- `ciw-nightly/nightly`: the full pipeline on a cron schedule in a named timezone.
- `ciw-inbox-file/ingest-file`: one run per `ciw.file.landed` event (resource = the file), with
  the file's path and source taken from the event payload.

No Prefect concurrency limit: runs may overlap (two files, or a file during the nightly run), and
the publish lock in flows/load.py serialises the part that writes, so the later run waits its turn
instead of failing or being dropped.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows import events

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

NIGHTLY = "nightly"
INGEST_FILE = "ingest-file"
TAGS = ["ciw"]


def check_timezone(tz: str) -> str:
    """Fail early and clearly on a typo, before any server is started."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {tz!r}: use an IANA name such as UTC or America/Guatemala") from None
    return tz


def check_cron(cron: str) -> str:
    """The check Prefect applies to the schedule, done before any server is started."""
    from prefect._internal.schemas.validators import validate_cron_string

    try:
        return validate_cron_string(cron)
    except ValueError as exc:
        raise ValueError(f"{exc} (5 fields: minute hour day-of-month month day-of-week)") from None


def file_landed_trigger():
    """One run per landed file: buckets are per resource, so simultaneous files each fire."""
    from prefect.events import DeploymentEventTrigger

    return DeploymentEventTrigger(
        name="ciw file landed",
        expect={events.FILE_LANDED},
        match={"prefect.resource.id": "ciw.file.*"},
        for_each={"prefect.resource.id"},
        parameters={"path": "{{ event.payload.path }}", "source": "{{ event.payload.source }}"},
    )


def build(cron: str = "0 2 * * *", timezone: str = "UTC", live: bool = False) -> list[RunnerDeployment]:
    from prefect.schedules import Cron

    from flows.inbox import ingest_inbox_file
    from flows.pipeline import nightly

    nightly_dep = nightly.to_deployment(
        name=NIGHTLY,
        schedules=[Cron(check_cron(cron), timezone=check_timezone(timezone))],
        parameters={"live": live},
        description=f"The whole pipeline ({'live APIs' if live else 'bundled snapshot'}), {cron} {timezone}.",
        tags=TAGS,
    )
    ingest_dep = ingest_inbox_file.to_deployment(
        name=INGEST_FILE,
        triggers=[file_landed_trigger()],
        description="One file from warehouse/inbox/<source>/, on its ciw.file.landed event.",
        tags=TAGS,
    )
    return [nightly_dep, ingest_dep]
