"""`lambdalytics properties …`: the admin API's operations from a shell (part of the CLI).

Output is plain and scriptable: ``key<TAB>value`` lines for one property, one tab-separated
line per property for ``list`` (``--json`` for either). A new API secret is printed once, on
its own ``api_secret`` line. Secrets to import are read from standard input (one per line),
never from the command line, where shell history and ``ps`` would keep them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from lambdalytics import aws
from lambdalytics.properties import (
    FIREBASE_PLATFORMS,
    ID_KINDS,
    Created,
    NewSecret,
    Property,
    PropertyStore,
)
from lambdalytics.property_admin import PropertyAdmin
from lambdalytics.property_policy import (
    BOT_POLICIES,
    GEO_PRECISIONS,
    GOAL_FIELDS,
    GOAL_MATCHES,
    IP_PRECISIONS,
    Goal,
)
from lambdalytics.retention import Retention

_POLICY_DESTS = ("name", "timezone", "currency", "retention_days", "ip_precision",
                 "geo_precision", "bot_policy", "rate_limit", "allowed_hostnames", "goals",
                 "cookieless")


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("none", "") else int(text)


def _goal(text: str) -> Goal:
    """NAME:FIELD:MATCH:VALUE (the value may contain ':')."""
    parts = text.split(":", 3)
    if len(parts) != 4:
        raise argparse.ArgumentTypeError("a goal is NAME:FIELD:MATCH:VALUE, "
                                         "e.g. signup:event_name:equals:sign_up")
    return Goal(*parts)


def _policy_options(p: argparse.ArgumentParser, *, update: bool) -> None:
    if update:
        p.add_argument("--name")
    p.add_argument("--timezone", help="IANA time zone (reports), e.g. Europe/Paris")
    p.add_argument("--currency", help="ISO 4217 code, e.g. EUR")
    p.add_argument("--retention-days", type=_optional_int, default=argparse.SUPPRESS,
                   metavar="DAYS|none", help="expire archived data after DAYS; none: keep")
    p.add_argument("--ip-precision", choices=tuple(IP_PRECISIONS))
    p.add_argument("--geo-precision", choices=tuple(GEO_PRECISIONS))
    p.add_argument("--bot-policy", choices=BOT_POLICIES)
    p.add_argument("--rate-limit", type=_optional_int, default=argparse.SUPPRESS,
                   metavar="HITS_PER_S|none", help="per collector task; none: no limit")
    p.add_argument("--cookieless", action=argparse.BooleanOptionalAction, default=None,
                   help="the collector derives a daily visitor id; no client id is kept")
    p.add_argument("--allowed-hostname", dest="allowed_hostnames", action="append",
                   metavar="HOST", help="repeat; *.example.com for subdomains")
    p.add_argument("--goal", dest="goals", action="append", type=_goal,
                   metavar="NAME:FIELD:MATCH:VALUE",
                   help=f"repeat; FIELD {'|'.join(GOAL_FIELDS)}, MATCH {'|'.join(GOAL_MATCHES)}")
    if update:
        p.add_argument("--clear-allowed-hostnames", action="store_true")
        p.add_argument("--clear-goals", action="store_true")


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    out = {k: getattr(args, k) for k in _POLICY_DESTS
           if hasattr(args, k) and getattr(args, k) is not None}
    if args.action != "update":
        out.pop("name", None)  # given positionally
    for k in ("retention_days", "rate_limit"):  # None is a value here: clear it
        if k in vars(args):
            out[k] = getattr(args, k)
    if getattr(args, "clear_allowed_hostnames", False):
        out["allowed_hostnames"] = []
    if getattr(args, "clear_goals", False):
        out["goals"] = []
    return out


def add_parser(sub: Any) -> argparse.ArgumentParser:
    props: argparse.ArgumentParser = sub.add_parser(
        "properties", help="create, import and manage properties and their API secrets")
    ps = props.add_subparsers(dest="action", required=True)

    create = ps.add_parser("create", help="a new property with new tracking ids")
    create.add_argument("--name", required=True)
    create.add_argument("--property-id", help="default: generated")
    create.add_argument("--firebase-platform", action="append", default=[],
                        choices=FIREBASE_PLATFORMS, help="issue a Firebase app id; repeat")
    create.add_argument("--no-secret", action="store_true", help="issue no API secret")
    create.add_argument("--secret-label", default="")
    _policy_options(create, update=False)

    for name, text in (("import", "register existing tracking ids (and API secrets)"),
                       ("register", "the same as import")):
        imp = ps.add_parser(name, help=text)
        imp.add_argument("--name", required=True)
        imp.add_argument("--property-id", help="default: generated")
        imp.add_argument("--tracking-id", action="append", required=True,
                         help="UA-…, G-… or a Firebase app id; repeat for several")
        imp.add_argument("--api-secrets-from-stdin", action="store_true",
                         help="read existing Measurement Protocol secrets, one per line")
        _policy_options(imp, update=False)

    lst = ps.add_parser("list")
    lst.add_argument("--json", action="store_true")
    show = ps.add_parser("show")
    show.add_argument("property_id")
    show.add_argument("--json", action="store_true")
    upd = ps.add_parser("update", help="change the name or policy (only the options given)")
    upd.add_argument("property_id")
    _policy_options(upd, update=True)
    for action in ("enable", "disable"):
        ps.add_parser(action).add_argument("property_id")
    delete = ps.add_parser("delete", help="delete a property and ALL its data")
    delete.add_argument("property_id")
    delete.add_argument("--yes", action="store_true", required=True,
                        help="required: the data cannot be recovered")
    ps.add_parser("sync-retention", help="rebuild every lifecycle rule from the properties")

    ids = ps.add_parser("tracking-ids", help="add or remove a property's tracking ids")
    ts = ids.add_subparsers(dest="what", required=True)
    tadd = ts.add_parser("add", help="existing ids (--tracking-id) or new ones (--issue)")
    tadd.add_argument("property_id")
    tadd.add_argument("--tracking-id", action="append", default=[],
                      help="an existing UA-…, G-… or Firebase app id; repeat for several")
    tadd.add_argument("--issue", action="append", default=[], choices=ID_KINDS,
                      help="issue a new id of this kind (ga4: a G- measurement id); repeat")
    trm = ts.add_parser("remove", help="the property keeps at least one")
    trm.add_argument("property_id")
    trm.add_argument("tracking_id")

    sec = ps.add_parser("secrets", help="a property's Measurement Protocol API secrets")
    ss = sec.add_subparsers(dest="what", required=True)
    add = ss.add_parser("add", help="a new secret, printed once")
    add.add_argument("property_id")
    add.add_argument("--label", default="")
    add.add_argument("--from-stdin", action="store_true",
                     help="import an existing secret read from standard input")
    ss.add_parser("list").add_argument("property_id")
    rev = ss.add_parser("revoke")
    rev.add_argument("property_id")
    rev.add_argument("secret_id")
    return props


# --- output -----------------------------------------------------------------------------------


def _public(prop: Property) -> dict[str, Any]:
    data = dataclasses.asdict(prop)
    data["api_secrets"] = [{k: v for k, v in s.items() if k != "digest"}
                           for s in data["api_secrets"]]
    return data


def _print_property(prop: Property) -> None:
    rows: list[tuple[str, Any]] = [("property_id", prop.property_id), ("name", prop.name)]
    rows += [("ua_tracking_id", t) for t in prop.ua_ids]
    rows += [("measurement_id", t) for t in prop.measurement_ids]
    rows += [("firebase_app_id", t) for t in prop.firebase_app_ids]
    rows += [("enabled", str(prop.enabled).lower()), ("timezone", prop.timezone),
             ("currency", prop.currency),
             ("retention_days", "none" if prop.retention_days is None else prop.retention_days),
             ("ip_precision", prop.ip_precision), ("geo_precision", prop.geo_precision),
             ("bot_policy", prop.bot_policy),
             ("rate_limit", "none" if prop.rate_limit is None else prop.rate_limit),
             ("cookieless", str(prop.cookieless).lower())]
    rows += [("allowed_hostname", h) for h in prop.allowed_hostnames]
    rows += [("goal", f"{g.name}:{g.field}:{g.match}:{g.value}") for g in prop.goals]
    rows += [("api_secret_id", f"{s.secret_id}\t{s.created_at}\t{s.label}")
             for s in prop.api_secrets]
    rows += [("created_at", prop.created_at), ("updated_at", prop.updated_at)]
    for key, value in rows:
        print(f"{key}\t{value}")


def _print_secret(made: NewSecret) -> None:
    print(f"api_secret_id\t{made.record.secret_id}")
    print(f"api_secret\t{made.secret}")
    print("# the secret is shown this once; only its digest is stored", file=sys.stderr)


def _stdin_secrets() -> list[str]:
    return [line.strip() for line in sys.stdin if line.strip()]


# --- the commands ------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    from dashboard.settings import AdminSettings  # the archive buckets and prefix

    settings = AdminSettings()
    sess = aws.session()
    async with aws.client(sess, "dynamodb", settings) as ddb, \
            aws.client(sess, "s3", settings) as s3:
        res = settings.resources
        admin = PropertyAdmin(
            PropertyStore(ddb, res.properties.name),
            Retention(s3, ddb, buckets=settings.retention_buckets(),
                      archive_prefix=settings.archive_prefix, rollups_table=res.rollups.name))
        await _dispatch(admin, args)


async def _dispatch(admin: PropertyAdmin, args: argparse.Namespace) -> None:
    store = admin.store
    action = args.action
    if action == "create":
        created: Created = await admin.create(
            args.name, property_id=args.property_id, firebase_platforms=args.firebase_platform,
            with_secret=not args.no_secret, secret_label=args.secret_label, **_changes(args))
        _print_property(created.property)
        if created.secret:
            _print_secret(created.secret)
    elif action in ("import", "register"):
        secrets_ = _stdin_secrets() if args.api_secrets_from_stdin else []
        prop = await admin.import_(args.name, args.tracking_id, property_id=args.property_id,
                                   api_secrets_=secrets_, **_changes(args))
        if action == "register":  # the original one-line output, which scripts read
            print(f"{prop.property_id}\t{prop.name}\t{' '.join(prop.tracking_ids)}")
        else:
            _print_property(prop)
    elif action == "list":
        props = await store.list()
        if args.json:
            print(json.dumps([_public(p) for p in props], indent=2))
        for prop in [] if args.json else props:
            state = "enabled" if prop.enabled else "disabled"
            print(f"{prop.property_id}\t{state}\t{prop.name}\t{' '.join(prop.tracking_ids)}")
    elif action == "show":
        prop = await store.require(args.property_id)
        if args.json:
            print(json.dumps(_public(prop), indent=2))
        else:
            _print_property(prop)
    elif action == "update":
        _print_property(await admin.update(args.property_id, _changes(args)))
    elif action in ("enable", "disable"):
        await admin.set_enabled(args.property_id, action == "enable")
    elif action == "delete":
        gone = await admin.delete(args.property_id)
        print(f"deleted\t{args.property_id}\t{gone.objects} object versions\t"
              f"{gone.rollups} rollup items")
    elif action == "sync-retention":
        if admin.retention is not None:
            await admin.retention.sync(await store.list())
    elif action == "tracking-ids":
        if args.what == "add":
            prop = await admin.add_tracking_ids(args.property_id, args.tracking_id, args.issue)
        else:
            prop = await admin.remove_tracking_id(args.property_id, args.tracking_id)
        _print_property(prop)
    elif action == "secrets":
        await _secrets(admin, args)


async def _secrets(admin: PropertyAdmin, args: argparse.Namespace) -> None:
    if args.what == "add":
        given = _stdin_secrets() if args.from_stdin else [None]
        if len(given) != 1:
            sys.exit("error: give exactly one secret on standard input")
        _print_secret(await admin.add_secret(args.property_id, label=args.label, secret=given[0]))
    elif args.what == "list":
        for s in (await admin.store.require(args.property_id)).api_secrets:
            print(f"{s.secret_id}\t{s.created_at}\t{s.label}")
    else:
        await admin.revoke_secret(args.property_id, args.secret_id)
