"""`flask hub …`: operator commands. Each one calls services inside one transaction."""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from contextlib import suppress
from typing import Any, TextIO

import click
from flask import current_app
from flask.cli import AppGroup

from referral_hub.agencies.vocabulary import AgencyKind
from referral_hub.auth.scopes import SCOPES
from referral_hub.core.actor import SYSTEM
from referral_hub.core.errors import DomainError

hub = AppGroup("hub", help="Referral hub operations.")


def transaction() -> Any:
    """`core.db.transaction`, imported when a command runs: this module is loaded for
    `flask hub --help` too, which must answer without the database layer."""
    from referral_hub.core.db import transaction as unit_of_work

    return unit_of_work()


def _fail(error: DomainError) -> None:
    messages = "; ".join(f"{field}: {' '.join(m)}" for field, m in (error.errors or {}).items())
    raise click.ClickException(f"{error.detail}{' (' + messages + ')' if messages else ''}")


@hub.command("create-agency")
@click.option("--name", required=True, help="Unique display name.")
@click.option(
    "--kind",
    required=True,
    type=click.Choice([kind.value for kind in AgencyKind]),
)
@click.option("--victim-service-provider", is_flag=True, help="Stricter sharing rules apply.")
@click.option("--city")
@click.option("--region")
def create_agency(
    name: str, kind: str, victim_service_provider: bool, city: str | None, region: str | None
) -> None:
    """Create an agency (the tenant whose staff and systems act in the hub)."""
    from referral_hub.agencies.service import create_agency as create

    try:
        with transaction():
            agency = create(
                SYSTEM,
                name=name,
                kind=AgencyKind(kind),
                is_victim_service_provider=victim_service_provider,
                city=city,
                region=region,
            )
            agency_id = agency.id
    except DomainError as error:
        _fail(error)
    click.echo(f"agency {agency_id} created")


@hub.command("create-user")
@click.option("--agency", "agency_ref", required=True, help="Agency id or exact name.")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True)
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="intake, provider, coordinator, agency_admin or hub_admin; repeat for several.",
)
@click.password_option(
    "--password", prompt="Password", help="Asked for interactively when not given."
)
def create_user(
    agency_ref: str, email: str, display_name: str, roles: tuple[str, ...], password: str
) -> None:
    """Create a staff user in an agency."""
    from referral_hub.agencies import service

    try:
        with transaction():
            agency = _resolve_agency(agency_ref)
            user = service.create_user(
                SYSTEM,
                agency_id=agency.id,
                email=email,
                display_name=display_name,
                roles=roles,
                password=password,
            )
            user_id = user.id
    except DomainError as error:
        _fail(error)
    click.echo(f"user {user_id} created")


def _resolve_agency(reference: str) -> Any:
    from referral_hub.agencies import service

    try:
        return service.get_agency(SYSTEM, uuid.UUID(reference))
    except ValueError:
        agency = service.find_agency_by_name(reference)
        if agency is None:
            raise click.ClickException(
                f"no agency named {reference!r}; list them on the front page or create one "
                "with `flask hub create-agency`"
            ) from None
        return agency


def _resolve_user(email: str) -> Any:
    from referral_hub.agencies import service

    user = service.find_user_by_email(email)
    if user is None:
        raise click.ClickException(
            f"no user with e-mail {email!r}; create one with `flask hub create-user`"
        )
    return user


@hub.command("create-client")
@click.option("--agency", "agency_ref", required=True, help="Agency id or exact name.")
@click.option("--name", required=True, help="What the system is, e.g. 'Case management'.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(list(SCOPES)),
    help="Repeat for several.",
)
@click.option(
    "--jwks",
    "jwks_file",
    type=click.File("r"),
    help="A JWK Set of its public keys (RS384/ES384): it may then sign its token requests "
    "(private_key_jwt) instead of sending the secret.",
)
def create_client(
    agency_ref: str, name: str, scopes: tuple[str, ...], jwks_file: TextIO | None
) -> None:
    """Register an agency system; prints its client id and secret (shown this once only)."""
    from referral_hub.auth import service

    try:
        with transaction():
            agency = _resolve_agency(agency_ref)
            client, secret = service.create_api_client(
                SYSTEM, agency_id=agency.id, name=name, scopes=list(scopes)
            )
            if jwks_file is not None:
                service.set_api_client_keys(SYSTEM, agency.id, client.id, jwks_file.read())
            client_id = client.client_id
    except DomainError as error:
        _fail(error)
    click.echo(f"client_id:     {client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("Store the secret now: the hub keeps only its hash and cannot show it again.")
    click.echo("Get a token:")
    click.echo(
        f"  curl -s -u '{client_id}:<secret>' -d grant_type=client_credentials "
        f"{current_app.config['PUBLIC_URL'].rstrip('/')}/oauth/token"
    )


@hub.command("set-password")
@click.option("--email", required=True)
@click.password_option("--password", prompt="New password")
def set_password(email: str, password: str) -> None:
    """Set a staff member's password (signs them out everywhere)."""
    from referral_hub.auth import admin

    try:
        with transaction():
            admin.set_password(SYSTEM, _resolve_user(email).id, password)
    except DomainError as error:
        _fail(error)
    click.echo("password set; the user's sessions were ended")


@hub.command("disable-user")
@click.option("--email", required=True)
@click.option("--enable", is_flag=True, help="Re-enable instead.")
def disable_user(email: str, enable: bool) -> None:
    """Disable (or re-enable) a staff member; a disabled user's sessions end at once."""
    from referral_hub.auth import admin

    with transaction():
        admin.update_user(SYSTEM, _resolve_user(email).id, is_active=enable)
    click.echo("user enabled" if enable else "user disabled and signed out")


@hub.command("set-roles")
@click.option("--email", required=True)
@click.option("--role", "roles", multiple=True, required=True, help="Repeat for several.")
def set_roles(email: str, roles: tuple[str, ...]) -> None:
    """Replace a staff member's roles (audited; their sessions end, new roles at next sign-in)."""
    from referral_hub.auth import admin

    try:
        with transaction():
            admin.update_user(SYSTEM, _resolve_user(email).id, roles=list(roles))
    except DomainError as error:
        _fail(error)
    click.echo("roles set: " + ", ".join(sorted(set(roles))))


@hub.command("reset-totp")
@click.option("--email", required=True)
def reset_totp(email: str) -> None:
    """Forget a staff member's second factor (lost phone); they enrol again at sign-in."""
    from referral_hub.auth import admin

    with transaction():
        admin.reset_totp(SYSTEM, _resolve_user(email).id)
    click.echo("second factor reset; the user will set up a new one at the next sign-in")


@hub.command("suspend-agency")
@click.option("--agency", "agency_ref", required=True, help="Agency id or exact name.")
@click.option("--reinstate", is_flag=True, help="Reinstate instead.")
def suspend_agency(agency_ref: str, reinstate: bool) -> None:
    """Suspend an agency: its staff and systems are refused on their next request."""
    from referral_hub.agencies.models import AgencyStatus
    from referral_hub.auth import admin

    status = AgencyStatus.ACTIVE if reinstate else AgencyStatus.SUSPENDED
    with transaction():
        admin.set_agency_status(SYSTEM, _resolve_agency(agency_ref).id, status)
    click.echo(f"agency {status.value}")


@hub.command("import-hsds")
@click.argument("document", type=click.Path(exists=True, dir_okay=False))
@click.option("--agency", "agency_ref", help="Agency (id or name) for services naming none.")
@click.option(
    "--version",
    "version",
    type=click.Choice(["3.0", "3.1"]),
    help="The document's HSDS version (default: 3.1 if it uses 3.1 fields, else 3.0).",
)
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
def import_hsds(document: str, agency_ref: str | None, version: str | None, dry_run: bool) -> None:
    """Import an Open Referral HSDS 3.0 or 3.1 JSON document (all or nothing)."""
    import json
    from pathlib import Path

    from referral_hub.core.jsonin import loads_strict
    from referral_hub.directory import hsds

    click.echo(f"reading {document} …")
    try:
        parsed = loads_strict(Path(document).read_bytes())
        with transaction():
            agency_id = _resolve_agency(agency_ref).id if agency_ref else None
            click.echo(f"validating against the HSDS {version or '3.x'} service schema …")
            report = hsds.import_document(
                SYSTEM,
                parsed,
                agency_id=agency_id,
                version=version,
                dry_run=dry_run,
                echo=click.echo,
            )
    except DomainError as error:
        _fail(error)
    except json.JSONDecodeError as error:
        raise click.ClickException(f"not JSON: {error}") from None
    for change in report.changes:
        if change.action == "update":
            click.echo(f"  {change.name}: " + ", ".join(change.fields))
    counts = (
        f"{report.created} services created, {report.updated} updated, "
        f"{report.agencies_created} agencies created (HSDS {report.version})"
    )
    click.echo(
        f"dry run, nothing written; it would give: {counts}" if dry_run else f"imported: {counts}"
    )
    for warning in report.warnings:
        click.echo(f"  warning: {warning}")


@hub.command("seed-demo")
def seed_demo() -> None:
    """Create the fictional demonstration network (safe to run again)."""
    from referral_hub import demo

    demo.seed(echo=click.echo)


@hub.command("seed-bench")
@click.option("--services", default=10_000, show_default=True, help="How many services to add.")
def seed_bench(services: int) -> None:
    """Add a large synthetic directory (Bench agencies) for benchmarks."""
    from referral_hub.demo import bench as benchdata

    with transaction():
        made = benchdata.seed(services, echo=click.echo)
    click.echo(f"bench directory ready: {made:,} services added")


@hub.command("rotate-keys")
@click.option("--batch", default=500, show_default=True, help="Rows per committed batch.")
@click.option("--retire", "retire", help="Key id to check for retirement (after rotating).")
def rotate_keys(batch: int, retire: str | None) -> None:
    """Put every stored secret under the newest key (resumable); then check a key can go.

    Put the new key first in REFERRAL_HUB_FIELD_ENCRYPTION_KEYS, keep the old ones, run
    this, and remove an old key only when --retire says nothing still needs it.
    """
    from referral_hub import keys
    from referral_hub.core.envelope import key_id

    configured = current_app.config["FIELD_ENCRYPTION_KEYS"]
    click.echo("configured keys (newest first): " + ", ".join(key_id(key) for key in configured))
    progress = keys.rotate(batch=batch, echo=click.echo)
    click.echo(
        f"done: {progress.rewrapped:,} client keys re-wrapped, "
        f"{progress.reencrypted:,} values re-encrypted"
    )
    if retire:
        left = keys.still_using(retire)
        if left:
            raise click.ClickException(
                f"key {retire} still protects {left:,} values: do not remove it yet"
            )
        click.echo(f"key {retire} protects nothing now: it may be removed from the configuration")


@hub.command("erase-client")
@click.option("--reference", required=True, help="The client's reference, e.g. C-ABCD-EFGH.")
@click.option("--reason", required=True, help="Why (recorded; no personal data).")
@click.confirmation_option(prompt="Erase this client's data for good? It cannot be undone.")
def erase_client(reference: str, reason: str) -> None:
    """Crypto-shred a client's PII (her data key is destroyed; the reference stays)."""
    from sqlalchemy import select

    from referral_hub.clients.models import Client
    from referral_hub.consent.service import erase_client as erase
    from referral_hub.extensions import db

    with transaction():
        client = db.session.scalar(select(Client).where(Client.reference == reference))
        if client is None:
            raise click.ClickException(f"no client with reference {reference!r}")
        erase(SYSTEM, client.id, reason)
    click.echo(f"client {reference} erased: her data can no longer be opened anywhere")


@hub.command("new-key")
def new_key() -> None:
    """Print a fresh encryption key for REFERRAL_HUB_FIELD_ENCRYPTION_KEYS."""
    from referral_hub.core.crypto import new_key as make

    click.echo(make())


@hub.command("sweep-outbox")
def sweep_outbox() -> None:
    """Hand every due, undelivered outbox row to the queue now."""
    from referral_hub.jobs import service

    with transaction():
        count = service.sweep(limit=100_000)
    click.echo(f"{count} outbox rows handed to the {service.queue().name} queue")


@hub.command("audit-verify")
@click.option(
    "--full", is_flag=True, help="re-hash the whole chain, not only what came since the last check"
)
def audit_verify(full: bool) -> None:
    """Check the audit chain from where the last check ended (or all of it with --full).

    The same check as the API's, recorded on the chain; a good check is where the next
    one starts.
    """
    from referral_hub.audit import oversight
    from referral_hub.audit.service import head

    total, _ = head()

    def progress(seen: int) -> None:
        click.echo(f"  … {seen:,} / {total:,} events", err=True)

    with transaction():
        report = oversight.verify(SYSTEM, full=full, progress=progress)
    if report["ok"]:
        click.echo(
            f"OK: {report['events_checked']:,} events ({report['mode']}, from seq"
            f" {report['from_seq']:,}), head {report['head']['seq']} {report['head']['hash']}"
        )
        if report["last_checkpoint"]:
            click.echo(f"  signed up to seq {report['last_checkpoint']['seq']}")
        return
    click.echo(
        f"BAD at seq {report['first_bad_seq']}: {report['reason']} — {report['explanation']}",
        err=True,
    )
    sys.exit(1)


@hub.command("audit-export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option(
    "--after-seq", type=int, default=0, help="start after this seq (moves back to a checkpoint)"
)
@click.option(
    "--include-unsigned", is_flag=True, help="also export events after the latest checkpoint"
)
def audit_export(path: str, after_seq: int, include_unsigned: bool) -> None:
    """Write the audit chain as JSON Lines, with the checkpoints and keys that cover it."""
    from referral_hub.audit import checkpoints

    header, lines = checkpoints.export_lines(after_seq=after_seq, include_unsigned=include_unsigned)
    total = max(0, header["to_seq"] - header["from_seq"] + 1)
    written = 0
    with open(path, "wb") as out:
        for line in lines:
            out.write(line)
            if line.startswith(b'{"leaf"'):
                written += 1
                if written % 10_000 == 0:
                    click.echo(f"  … {written:,} / {total:,} events", err=True)
    click.echo(
        f"{written:,} events (seq {header['from_seq']} to {header['to_seq']}) written to {path}"
    )
    if not include_unsigned:
        click.echo(
            "events after the latest checkpoint were left out (--include-unsigned adds them)"
        )
    click.echo(
        "verify with: python -m referral_hub.audit.verify "
        f"{path} --public-key hub-audit-key.pem (from `flask hub audit-public-key`)"
    )


@hub.command("audit-checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the chain's head now (needs AUDIT_SIGNING_KEY)."""
    from referral_hub.audit import checkpoints

    if checkpoints.signing_key() is None:
        raise click.ClickException(
            "set REFERRAL_HUB_AUDIT_SIGNING_KEY (see `flask hub audit-keygen`)"
        )
    with transaction():
        made = checkpoints.make_checkpoint(force=True)
    click.echo(
        f"signed seq {made['seq']} with key {made['key_id']}" if made else "nothing new to sign"
    )


@hub.command("audit-keygen")
def audit_keygen() -> None:
    """Make a new checkpoint-signing key: the secret for the worker, the public key for auditors."""
    from referral_hub.audit import signing
    from referral_hub.core.crypto import new_signing_key_text

    secret = new_signing_key_text()
    public = signing.load_private_key(secret).public_key()
    click.echo(f"REFERRAL_HUB_AUDIT_SIGNING_KEY={secret}")
    click.echo(f"# key id {signing.key_id(public)}; give auditors this public key:", err=True)
    click.echo(signing.public_pem(public), err=True, nl=False)


@hub.command("audit-public-key")
def audit_public_key() -> None:
    """Print every public key that has signed checkpoints (PEM), plus the configured one."""
    from referral_hub.audit import checkpoints, signing

    pems = [key["pem"] for key in checkpoints.public_keys()]
    configured = checkpoints.signing_key()
    if configured is not None:
        pem = signing.public_pem(configured.public_key())
        if pem not in pems:
            pems.append(pem)
    if not pems:
        raise click.ClickException("no signing key yet: set AUDIT_SIGNING_KEY or sign a checkpoint")
    click.echo("".join(pems), nl=False)


@hub.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run the worker: outbox deliveries (drained from the database) and sweeps (rq)."""
    from referral_hub.jobs.worker import NoQueue, run_worker

    try:
        run_worker(current_app._get_current_object(), burst=burst)  # type: ignore[attr-defined]
    except NoQueue as error:
        raise click.ClickException(str(error)) from None


@hub.command("scheduler")
def scheduler() -> None:
    """Run the periodic-sweep scheduler (exactly one per deployment is the plan; two are safe)."""
    from referral_hub.jobs.periodic import run_scheduler
    from referral_hub.jobs.runtime import set_process_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    set_process_app(app)
    click.echo("scheduler running; Ctrl-C to stop")
    with suppress(KeyboardInterrupt):
        run_scheduler(app, stop=threading.Event())


@hub.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Embedded mode: serve the hub with jobs and sweeps running in this process."""
    from werkzeug.serving import make_server

    from referral_hub import demo
    from referral_hub.jobs.periodic import start_embedded_scheduler

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the hub logs each request itself
    # bound before the banner: a taken port ends here with werkzeug's plain advice, not
    # after a banner that says the hub is running
    server = make_server(host, port, app, threaded=True)
    if app.extensions["hub_queue"].name != "rq":
        start_embedded_scheduler(app)
    url = f"http://{host}:{port}/"
    click.echo("")
    click.echo(f"  Referral hub is running: open {url}")
    click.echo(f"  API reference: {url}docs   health: {url}readyz")
    click.echo(f"  Staff sign in at {url}login. Coordinators and administrators set up an")
    click.echo("  authenticator app (TOTP) at their first sign-in. Demo staff accounts:")
    for email, roles in demo.SIGN_INS:
        click.echo(f"    {email:<36} {roles:<28} password: {demo.DEMO_PASSWORD}")
    click.echo("  Press Ctrl-C to stop.")
    click.echo("")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
