"""Builds the registrar from its real gateways: AWS through aws.py, clusters through eks.py."""

from __future__ import annotations

from registrar.aws import Ec2Volumes
from registrar.eks import EksConnector
from registrar.service import Registrar
from registrar.settings import Settings


def build_gateways(region: str) -> tuple[Ec2Volumes, EksConnector]:
    return Ec2Volumes(region), EksConnector(region)


def build_registrar(settings: Settings, region: str) -> Registrar:
    return Registrar(settings, *build_gateways(region))
