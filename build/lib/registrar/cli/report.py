"""Plain-text tables for the command line: what a sweep did, what each volume looks like."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from registrar.core import tags as t
from registrar.core.models import Manifest, VolumeFacts
from registrar.core.objects import is_ours, volume_of
from registrar.core.sweep import Row


@dataclass(frozen=True)
class VolumeStatus:
    volume_id: str
    cluster: str
    pv: str
    pvc: str
    phase: str
    status: str


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns padded to their widest cell, like kubectl's."""
    lines = [list(header), *(list(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def sweep_table(rows: Iterable[Row]) -> str:
    header = ("VOLUME", "CLUSTER", "PV", "PVC", "ACTION", "DETAIL")
    return table(header, ((r.volume_id, r.cluster, r.pv, r.pvc, r.action, r.detail) for r in rows))


def volume_statuses(
    volumes: Iterable[VolumeFacts], pvs: Iterable[Manifest], pvcs: Iterable[Manifest], cluster: str
) -> list[VolumeStatus]:
    """Each tagged volume with our PV and claim in `cluster`, and their phase."""
    pv_by_volume = {volume_of(pv): pv for pv in pvs if is_ours(pv)}
    claims = {(c["metadata"].get("namespace"), c["metadata"]["name"]): c for c in pvcs}
    found = []
    for facts in volumes:
        pv = pv_by_volume.get(facts.volume_id)
        status = facts.tags.get(t.STATUS_TAG, "-")
        if pv is None:
            found.append(VolumeStatus(facts.volume_id, cluster, "-", "-", "-", status))
            continue
        ref = pv.get("spec", {}).get("claimRef") or {}
        claim = claims.get((ref.get("namespace"), ref.get("name")))
        phase_of = claim if claim is not None else pv
        phase = str((phase_of.get("status") or {}).get("phase", "-"))
        pvc = f"{ref['namespace']}/{ref['name']}" if claim is not None else "-"
        name = str(pv["metadata"]["name"])
        found.append(VolumeStatus(facts.volume_id, cluster, name, pvc, phase, status))
    return found


def status_table(statuses: Iterable[VolumeStatus]) -> str:
    header = ("VOLUME", "CLUSTER", "PV", "PVC", "PHASE", "STATUS TAG")
    cells = ((s.volume_id, s.cluster, s.pv, s.pvc, s.phase, s.status) for s in statuses)
    return table(header, cells)
