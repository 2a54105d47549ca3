"""The network: a VPC across ``az_count`` zones, public subnets for the load balancer, private
ones for the tasks, and VPC endpoints for every AWS API the tasks call — no NAT gateway (at
1,000 hits/s a NAT's data charge alone would cost more than the rest of the pipeline)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# the interface endpoints the tasks need (gateway endpoints: s3, dynamodb):
#   kinesis-streams  the collector's PutRecords, the archiver's reads
#   ecr.api, ecr.dkr image pulls (layers come from S3 through the gateway endpoint)
#   logs             the awslogs driver (and so the EMF metrics)
#   secretsmanager   ECS reading the admin token into the dashboard's environment
#   sts              the SDKs' web-identity and regional STS calls
#   athena           the dashboard's reports and the compactor's view switch
INTERFACE_SERVICES = ("kinesis-streams", "ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts",
                      "athena")
GATEWAY_SERVICES = ("s3", "dynamodb")


@dataclass(frozen=True)
class NetworkArgs:
    prefix: str
    region: str
    az_count: int = 3
    cidr: str = "10.64.0.0/16"
    # the second region's S3 through a cross-region interface endpoint, so the admin API can
    # keep the replica's lifecycle rules equal to the source's without a NAT; None: none
    replica_region: str | None = None


def subnet_cidrs(cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """(public, private) subnet ranges: /20s (4,091 addresses each) from the VPC's range,
    public ones first, private ones from its upper half."""
    net = ipaddress.ip_network(cidr)
    if net.prefixlen > 18:
        raise ValueError(f"{cidr}: the VPC needs a /18 or larger")
    blocks = list(net.subnets(new_prefix=net.prefixlen + 4))
    half = len(blocks) // 2
    if az_count > half:
        raise ValueError(f"{cidr} holds {half} zones, not {az_count}")
    return ([str(b) for b in blocks[:az_count]], [str(b) for b in blocks[half:half + az_count]])


def zones(az_count: int) -> list[str]:
    """The first ``az_count`` available zones of the region (not Local or Wavelength Zones)."""
    found = aws.get_availability_zones(
        state="available",
        filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}]).names
    if len(found) < az_count:
        raise ValueError(f"az_count {az_count}: the region has {len(found)} zones")
    return list(found[:az_count])


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    zones: list[str]
    endpoint_security_group_id: pulumi.Output[str]
    gateway_prefix_list_ids: list[pulumi.Output[str]]  # S3's and DynamoDB's, for egress rules

    def __init__(self, name: str, args: NetworkArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lambdalytics:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = args.prefix
        self.zones = zones(args.az_count)
        self.vpc_cidr = args.cidr
        public_cidrs, private_cidrs = subnet_cidrs(args.cidr, args.az_count)
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.cidr, enable_dns_hostnames=True,
                          enable_dns_support=True, tags={"Name": p}, opts=child)
        self.vpc_id = vpc.id
        # a new VPC's default security group lets its members reach each other on every port:
        # managed here with no rules, so nothing that lands in it by accident is open
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id,
                                     tags={"Name": f"{p}-default-unused"}, opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": p}, opts=child)
        public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id,
                                       routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
                                       tags={"Name": f"{p}-public"}, opts=child)
        private_rt = aws.ec2.RouteTable(f"{name}-private", vpc_id=vpc.id,
                                        tags={"Name": f"{p}-private"}, opts=child)
        self.public_subnet_ids, self.private_subnet_ids = [], []
        for i, zone in enumerate(self.zones):
            pub = aws.ec2.Subnet(f"{name}-public-{i}", vpc_id=vpc.id, cidr_block=public_cidrs[i],
                                 availability_zone=zone, map_public_ip_on_launch=False,
                                 tags={"Name": f"{p}-public-{zone}", "tier": "public"}, opts=child)
            priv = aws.ec2.Subnet(f"{name}-private-{i}", vpc_id=vpc.id,
                                  cidr_block=private_cidrs[i], availability_zone=zone,
                                  tags={"Name": f"{p}-private-{zone}", "tier": "private"},
                                  opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{i}", subnet_id=pub.id,
                                          route_table_id=public_rt.id, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=priv.id,
                                          route_table_id=private_rt.id, opts=child)
            self.public_subnet_ids.append(pub.id)
            self.private_subnet_ids.append(priv.id)

        sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints", vpc_id=vpc.id, description="HTTPS to the VPC endpoints",
            ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443,
                      "cidr_blocks": [args.cidr], "description": "tasks in the VPC"}],
            tags={"Name": f"{p}-endpoints"}, opts=child)
        self.endpoint_security_group_id = sg.id
        self.gateway_prefix_list_ids = []
        for service in GATEWAY_SERVICES:
            gateway = aws.ec2.VpcEndpoint(f"{name}-{service}", vpc_id=vpc.id,
                                service_name=f"com.amazonaws.{args.region}.{service}",
                                vpc_endpoint_type="Gateway", route_table_ids=[private_rt.id],
                                tags={"Name": f"{p}-{service}"}, opts=child)
            self.gateway_prefix_list_ids.append(gateway.prefix_list_id)
        for service in INTERFACE_SERVICES:
            aws.ec2.VpcEndpoint(f"{name}-{service.replace('.', '-')}", vpc_id=vpc.id,
                                service_name=f"com.amazonaws.{args.region}.{service}",
                                vpc_endpoint_type="Interface", private_dns_enabled=True,
                                subnet_ids=self.private_subnet_ids, security_group_ids=[sg.id],
                                tags={"Name": f"{p}-{service}"}, opts=child)
        if args.replica_region:
            aws.ec2.VpcEndpoint(f"{name}-s3-replica", vpc_id=vpc.id,
                                service_name=f"com.amazonaws.{args.replica_region}.s3",
                                service_region=args.replica_region,
                                vpc_endpoint_type="Interface", private_dns_enabled=True,
                                subnet_ids=self.private_subnet_ids, security_group_ids=[sg.id],
                                tags={"Name": f"{p}-s3-{args.replica_region}"}, opts=child)
        self.register_outputs({"vpc_id": self.vpc_id, "public_subnet_ids": self.public_subnet_ids,
                               "private_subnet_ids": self.private_subnet_ids})
