"""`registrar` (or `python -m registrar`): the Lambda's logic from a terminal."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from registrar.cli.report import status_table, sweep_table, volume_statuses
from registrar.cli.token import add_token_command
from registrar.core import tags as t
from registrar.core.decision import Decision, triage
from registrar.core.errors import InvalidInputError, NotFoundError, RegistrarError, SettingsError
from registrar.core.events import Ignored, VolumeCreated, parse_event
from registrar.core.models import VolumeFacts
from registrar.core.planner import Plan, plan_volume
from registrar.core.settings import Settings, aws_region
from registrar.core.sweep import target_cluster
from registrar.core.work import WorkItem, work_items
from registrar.engine.ports import VolumeReader

if TYPE_CHECKING:
    from registrar.wiring import Wiring

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
DEMO = Path("devcluster") / "demo" / "__main__.py"
Command = Callable[[argparse.Namespace], int]
Wire = Callable[[Settings, str], "Wiring"]
T = TypeVar("T")


def main(argv: Sequence[str] | None = None, *, wire: Wire | None = None) -> int:
    """`wire(settings, region)`: the gateways the commands go through (registrar.wiring.wire
    unless a test hands in one of its own)."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.wire = wire or _wire
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.CRITICAL,
        format="%(levelname)s %(name)s: %(message)s",
    )
    command: Command = args.run
    try:
        return command(args)
    except (InvalidInputError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    except RegistrarError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="registrar", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    render = commands.add_parser("render", help="print the PV and PVC an event would create")
    render.add_argument("--event", required=True, type=Path, help="an EventBridge event (JSON)")
    render.set_defaults(run=run_render)

    register = commands.add_parser("register", help="register one existing volume")
    register.add_argument("volume_id", metavar="VOLUME_ID")
    register.add_argument("--cluster", help="target cluster (default: tag or setting)")
    register.add_argument("--region", help="the volume's region (default: from the environment)")
    register.set_defaults(run=run_register)

    reconcile = commands.add_parser("reconcile", help="sweep every tagged volume, fill the gaps")
    reconcile.add_argument("--cluster", help="one cluster (default: every allowed cluster)")
    reconcile.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    reconcile.add_argument("--region", help="the volumes' region (default: from the environment)")
    reconcile.set_defaults(run=run_reconcile)

    status = commands.add_parser("status", help="tagged volumes with their PV, PVC and phase")
    status.add_argument("--cluster", help="one cluster (default: every allowed cluster)")
    status.add_argument("--region", help="the volumes' region (default: from the environment)")
    status.set_defaults(run=run_status)

    add_token_command(commands)

    demo = commands.add_parser("demo", help="the local end-to-end demo (from a checkout)")
    demo.set_defaults(run=run_demo)
    return parser


def run_demo(_args: argparse.Namespace) -> int:
    """The demo lives in a repository checkout (devcluster/), never in the Lambda package: it is
    found from the current folder upwards and replaces this process."""
    root = next((d for d in (Path.cwd(), *Path.cwd().parents) if (d / DEMO).is_file()), None)
    if root is None:
        print(f"error: demo: run it from a checkout of the repository (no {DEMO})", file=sys.stderr)
        return EXIT_INVALID
    os.chdir(root)  # the demo's own process, so that Ctrl-C and exit codes are its own
    os.execv(sys.executable, [sys.executable, "-m", "devcluster.demo"])  # noqa: S606 - no shell


def run_render(args: argparse.Namespace) -> int:
    try:
        raw = json.loads(Path(args.event).read_text())
    except (OSError, ValueError) as error:
        raise InvalidInputError(str(args.event), f"not a readable JSON file ({error})") from None
    event = parse_event(raw)
    settings = Settings.from_env()
    region = raw.get("region") or aws_region()
    volumes = LazyVolumes(region)
    items, status = [], EXIT_OK
    if isinstance(event, Ignored):
        print(f"ignored: {event.reason}", file=sys.stderr)
    for item in [] if isinstance(event, Ignored) else work_items(event):
        planned = _render_item(item, event, volumes, settings)
        if isinstance(planned, Plan):
            items += planned.items
        elif planned.result == "invalid":
            print(f"error: {planned.detail}", file=sys.stderr)
            status = EXIT_INVALID
        else:
            print(f"ignored: {planned.detail}", file=sys.stderr)
    print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2))
    return status


def _render_item(
    item: WorkItem, event: object, volumes: VolumeReader, settings: Settings
) -> Plan | Decision:
    """The objects an item would create, or why none."""
    early = triage(item, settings)
    if early is not None:
        return early
    if item.reason == "untagged":
        return Decision("ignored", f"{t.PV_TAG} removed from {item.volume_id}: nothing to create")
    if item.reason == "deleted":
        return Decision("ignored", f"{item.volume_id} deleted: nothing to create")
    facts = event.facts if isinstance(event, VolumeCreated) else None
    try:
        facts = facts or volumes.describe_volume(item.volume_id)
        planned = plan_volume(facts, settings)
    except NotFoundError:
        return Decision("ignored", f"{item.volume_id} no longer exists")
    except InvalidInputError as error:
        return Decision("invalid", str(error))
    return Decision("ignored", planned.reason) if isinstance(planned, Ignored) else planned


def _wire(settings: Settings, region: str) -> Wiring:
    # Imported here: boto3 costs ~0.2 s, and `token` runs before every kubectl command.
    from registrar.wiring import wire  # noqa: PLC0415

    return wire(settings, region)


def run_register(args: argparse.Namespace) -> int:
    registrar = args.wire(Settings.from_env(), args.region or aws_region()).registrar()
    outcome = registrar.register(args.volume_id, args.cluster)
    for obj in outcome.objects:
        print(obj.line())
    print(f"{outcome.result}: {outcome.detail}")
    if outcome.result == "invalid":
        return EXIT_INVALID
    return EXIT_OK if outcome.result in ("registered", "unchanged") else EXIT_FAILED


def run_reconcile(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    clusters = _clusters(args, settings)
    reconciler = args.wire(settings, args.region or aws_region()).registrar()
    rows = []
    for cluster in clusters:
        rows += reconciler.sweep(cluster, dry_run=args.dry_run, progress=progress_bar)
    print(sweep_table(rows))
    return EXIT_FAILED if any(row.action == "conflict" for row in rows) else EXIT_OK


def run_status(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    clusters = _clusters(args, settings)
    wiring = args.wire(settings, args.region or aws_region())
    tagged = list(progress_bar(wiring.volumes.tagged_volumes(), "tagged volumes"))
    found = []
    for cluster in clusters:
        kube = wiring.clusters.kube_for(cluster)
        pvs = kube.list("PersistentVolume", t.MANAGED_SELECTOR)
        pvcs = kube.list("PersistentVolumeClaim", t.MANAGED_SELECTOR)
        mine = [v for v in tagged if target_cluster(v, settings) == cluster]
        found += volume_statuses(mine, pvs, pvcs, cluster)
    print(status_table(found))
    return EXIT_OK


def progress_bar(items: Iterable[T], label: str, total: int | None = None) -> Iterable[T]:
    """A tqdm bar on stderr, shown only to a person at a terminal."""
    from tqdm import tqdm  # noqa: PLC0415 - see _wire

    return tqdm(items, desc=label, total=total, unit="", file=sys.stderr,
                disable=not sys.stderr.isatty(), leave=False)


def _clusters(args: argparse.Namespace, settings: Settings) -> tuple[str, ...]:
    if args.cluster:
        return (args.cluster,)
    if not settings.clusters:
        raise InvalidInputError("--cluster", "required when no cluster is configured")
    return settings.clusters


class LazyVolumes:
    """Creates the EC2 client only when an event really needs DescribeVolumes."""

    def __init__(self, region: str) -> None:
        self._region = region

    @cached_property
    def _ec2(self) -> VolumeReader:
        from registrar.adapters.aws import Ec2Volumes  # noqa: PLC0415 - see _wire

        return Ec2Volumes(self._region)

    def describe_volume(self, volume_id: str) -> VolumeFacts:
        return self._ec2.describe_volume(volume_id)
