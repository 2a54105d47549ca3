"""The network under Pulumi's mocks: zones, subnets, routes, endpoints, and no NAT."""

from __future__ import annotations

import ipaddress

import pytest

from infra.network import GATEWAY_SERVICES, INTERFACE_SERVICES, Network, NetworkArgs, subnet_cidrs
from tests.infra import mocks
from tests.infra.test_services import run


@pytest.fixture(scope="module")
def rec() -> mocks.Recorder:
    return run(lambda: Network("network", NetworkArgs(prefix="t", region="us-east-1", az_count=3,
                                                      replica_region="us-west-2")))


def subnets(rec: mocks.Recorder, tier: str) -> list[dict[str, object]]:
    return [s.inputs for s in rec.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["tier"] == tier]


def test_subnets_span_distinct_zones_without_overlap(rec: mocks.Recorder) -> None:
    public, private = subnets(rec, "public"), subnets(rec, "private")
    assert len(public) == len(private) == 3
    for tier in (public, private):
        assert len({s["availabilityZone"] for s in tier}) == 3
        assert {s["availabilityZone"] for s in tier} <= set(mocks.ZONES)
    nets = [ipaddress.ip_network(str(s["cidrBlock"])) for s in public + private]
    vpc = ipaddress.ip_network(rec.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"])
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    assert not any(s.get("mapPublicIpOnLaunch") for s in public + private)


def test_no_nat_and_only_the_public_route_table_reaches_the_internet(rec: mocks.Recorder) -> None:
    assert rec.of_type("aws:ec2/natGateway:NatGateway") == []
    assert rec.of_type("aws:ec2/eip:Eip") == []
    tables = {t.name: t.inputs for t in rec.of_type("aws:ec2/routeTable:RouteTable")}
    assert tables["network-public"]["routes"] == [{"cidrBlock": "0.0.0.0/0",
                                                   "gatewayId": "network-igw-id"}]
    assert not tables["network-private"].get("routes")
    assoc = {a.inputs["subnetId"]: a.inputs["routeTableId"]
             for a in rec.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")}
    for i in range(3):
        assert assoc[f"network-public-{i}-id"] == "network-public-id"
        assert assoc[f"network-private-{i}-id"] == "network-private-id"


def test_endpoints_for_every_api_the_tasks_call(rec: mocks.Recorder) -> None:
    endpoints = {e.inputs["serviceName"]: e.inputs for e in rec.of_type(
        "aws:ec2/vpcEndpoint:VpcEndpoint")}
    for svc in GATEWAY_SERVICES:
        gw = endpoints[f"com.amazonaws.us-east-1.{svc}"]
        assert gw["vpcEndpointType"] == "Gateway"
        assert gw["routeTableIds"] == ["network-private-id"]
    for svc in INTERFACE_SERVICES:
        ep = endpoints[f"com.amazonaws.us-east-1.{svc}"]
        assert ep["vpcEndpointType"] == "Interface"
        assert ep["privateDnsEnabled"] is True
        assert ep["subnetIds"] == [f"network-private-{i}-id" for i in range(3)]
    replica = endpoints["com.amazonaws.us-west-2.s3"]
    assert replica["serviceRegion"] == "us-west-2"
    assert replica["privateDnsEnabled"] is True
    # what the services' SDK clients reach: Kinesis, DynamoDB, S3, Athena, ECR, Logs, Secrets
    assert {"kinesis-streams", "athena", "ecr.api", "ecr.dkr", "logs", "secretsmanager"} <= set(
        INTERFACE_SERVICES)
    vpc = rec.one("aws:ec2/vpc:Vpc").inputs
    assert vpc["enableDnsHostnames"] is True  # private DNS names need both
    assert vpc["enableDnsSupport"] is True


def test_endpoint_security_group_admits_only_https_from_the_vpc(rec: mocks.Recorder) -> None:
    sg = rec.one("aws:ec2/securityGroup:SecurityGroup", "network-endpoints").inputs
    assert sg["ingress"] == [{"protocol": "tcp", "fromPort": 443, "toPort": 443,
                              "cidrBlocks": ["10.64.0.0/16"], "description": "tasks in the VPC"}]
    default = rec.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert not default.get("ingress")
    assert not default.get("egress")


def test_subnet_cidrs() -> None:
    public, private = subnet_cidrs("10.0.0.0/16", 3)
    assert public == ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"]
    assert private == ["10.0.128.0/20", "10.0.144.0/20", "10.0.160.0/20"]
    with pytest.raises(ValueError, match="/18"):
        subnet_cidrs("10.0.0.0/24", 2)


def test_more_zones_than_the_region_has_fail() -> None:
    with pytest.raises(Exception, match="az_count 5"):
        run(lambda: Network("n", NetworkArgs(prefix="t", region="us-east-1", az_count=5)))
