"""`ivig-fhir upload`: the export into a FHIR server; credentials, progress and the report."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from ivig_fhir.cli._common import fhir_version_option
from ivig_fhir.problems import BadInput, FindingsError, IvigFhirError


def upload(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE",
        help="The export (a transaction Bundle).")] = Path(
        "output/ivig-fhir-bundle.json"),
    server: Annotated[str | None, typer.Option(
        "--server", metavar="URL", envvar="IVIG_FHIR_SERVER", show_envvar=True,
        help="FHIR base URL, e.g. http://127.0.0.1:8080/fhir")] = None,
    server_profile: Annotated[str | None, typer.Option(
        "--server-profile", metavar="PROFILE",
        help="The server's documented limits and habits: hapi, azure, healthlake, "
        "google, medplum, firely, smile or generic (docs/servers.md).")] = None,
    max_entries: Annotated[int | None, typer.Option(
        "--max-entries", metavar="N", min=1, help="At most N entries per transaction; chunks go in "
        "reference order. Default: the profile's limit, else one transaction.")] = None,
    max_bytes: Annotated[int | None, typer.Option(
        "--max-bytes", metavar="N", min=1024, help="At most N bytes per request body, e.g. a "
        "proxy's limit in front of the server (nginx: 1 MB by default). Default: the "
        "profile's limit.")] = None,
    rate: Annotated[float | None, typer.Option(
        "--rate", metavar="N", min=0.01,
        help="At most N requests per second. Default: the profile's.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Send every resource, without first reading what the server "
        "holds.")] = False,
    retire: Annotated[bool, typer.Option(
        "--retire", help="After the upload, mark resources of this export's identifier "
        "namespace that the release no longer contains as retired (a new version).")] = False,
    delete_withdrawn: Annotated[bool, typer.Option(
        "--delete-withdrawn", help="As --retire, but delete them (and their "
        "Provenance).")] = False,
    per_resource: Annotated[bool, typer.Option(
        "--per-resource", help="One plain PUT per resource instead of transactions.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show server, chunks and counts; send nothing.")] = False,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Read every resource back and compare it with the export "
        "(ignoring meta); exit 1 on a difference.")] = False,
    fhir_version: Annotated[str | None, typer.Option(
        "--fhir-version", metavar="VERSION",
            help="The export's FHIR version; default: from manifest.json "
        "beside it.")] = None,
    token_file: Annotated[Path | None, typer.Option(
        "--token-file", metavar="FILE",
            help="File holding a bearer token (else env IVIG_FHIR_TOKEN).")] = None,
    oauth_token_url: Annotated[str | None, typer.Option(
        "--oauth-token-url", metavar="URL",
            help="OAuth2 token endpoint (client credentials grant).")] = None,
    client_id: Annotated[str | None, typer.Option("--client-id", metavar="ID")] = None,
    client_secret_file: Annotated[Path | None, typer.Option(
        "--client-secret-file", metavar="FILE", help="File holding the client secret (else env "
        "IVIG_FHIR_CLIENT_SECRET).")] = None,
    private_key_file: Annotated[Path | None, typer.Option(
        "--private-key-file", metavar="FILE",
            help="PEM key (RSA or EC) to sign a JWT client assertion "
        "(SMART Backend Services) instead of a client secret.")] = None,
    key_id: Annotated[str | None, typer.Option("--key-id", metavar="KID",
        help="JWT 'kid' header.")] = None,
    scope: Annotated[str | None, typer.Option("--scope", metavar="SCOPE",
        help="OAuth2 scope to ask for, e.g. "
                                              "'system/*.cu system/*.rs'.")] = None,
    ca_bundle: Annotated[Path | None, typer.Option(
        "--ca-bundle", metavar="FILE",
            help="PEM file of extra CAs to trust (TLS is always verified).")] = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", metavar="SECONDS",
            min=0.1, help="Seconds to wait for an answer to one request.")] = 120.0,
    max_retries: Annotated[int, typer.Option(
        "--max-retries", metavar="N",
            min=0, help="Retries of one request (429/502/503/504, timeouts, "
        "dropped connections).")] = 5,
    retry_time: Annotated[float, typer.Option(
        "--retry-time", metavar="SECONDS",
            min=0, help="Seconds one request may take with all its retries.")] = (
        300.0),
    require_approval: Annotated[bool, typer.Option(
        "--require-approval", help="Refuse (exit 2, nothing sent) an export that carries no "
        "recorded approval (`ivig-fhir approve`).")] = False,
) -> None:
    """Upload the export to a FHIR server.

    Reads what the server holds and sends only what differs (PUT with the export's ids, or
    conditional updates on identifiers where the server assigns ids), in transactions within
    the server's limits. Exit 0 uploaded, 1 the server refused
    or stayed unreachable (the report names the chunks that landed; re-run to complete),
    2 bad input or usage, or a server that cannot take the export (nothing sent)."""
    import os

    from ivig_fhir import upload as up

    secrets: list[str] = []

    def say(line: str, err: bool = True) -> None:
        for secret in secrets:  # belt and braces: no message should hold one anyway
            line = line.replace(secret, "[secret]")
        typer.echo(line, err=err)

    def stop(exc: IvigFhirError) -> typer.Exit:
        for problem in exc.problems:
            say(problem.render())
        say(f"ivig-fhir: {exc.message}")
        return typer.Exit(int(exc.exit_code))

    token_client = None
    try:
        fhir_version_option(fhir_version)  # an unknown version is refused before anything
        if server:
            server_url(server)  # a malformed URL is a typo, not a server that is down
        if oauth_token_url:
            server_url(oauth_token_url, "--oauth-token-url")
        if retire and delete_withdrawn:
            raise BadInput("give --retire or --delete-withdrawn, not both")
        chosen = up.profile(server_profile) if server_profile else None
        cap = max_entries or (chosen.max_entries if chosen else None)
        max_bytes = max_bytes or (chosen.max_bytes if chosen else None)
        export = up.read_export(bundle, fhir_version)
        _check_approval(export, require_approval, say)
        chunks = up.plan_chunks(export.entries, 1 if per_resource else cap, max_bytes)
        if chosen:
            say(f"profile {chosen.describe()}", err=False)
        if dry_run and not (retire or delete_withdrawn):
            say(f"server: {server or '(none given)'} (not contacted: --dry-run)", err=False)
            say(f"export: {bundle}, FHIR {export.fhir_version}, "
                f"{len(export.entries)} resources", err=False)
            kind = "PUT requests" if per_resource else "transactions"
            say(f"{len(chunks)} {kind}, referenced resources first:", err=False)
            for chunk in chunks:
                counts = ", ".join(f"{t} {n}" for t, n in sorted(chunk.counts().items()))
                say(f"  chunk {chunk.index:3d}: {len(chunk.entries):4d}  {counts}", err=False)
            for kind_, count in sorted(export.counts.items()):
                say(f"{count:5d}  {kind_}", err=False)
            return
        if not server:
            raise BadInput("no server: pass --server URL or set IVIG_FHIR_SERVER")
        auth, token_client = _upload_auth(
            secrets, token_file, oauth_token_url, client_id, client_secret_file,
            private_key_file, key_id, scope, ca_bundle, timeout, os.environ)
        settings = up.UploadSettings(
            server, timeout, up.RetryPolicy(max_retries, retry_time), per_resource, ca_bundle,
            credentials_given=auth is not None, max_entries=cap, max_bytes=max_bytes,
            requests_per_second=rate or (chosen.requests_per_second if chosen else None),
            client_ids=chosen.client_ids if chosen else True, force=force, profile=chosen,
            mime_fhir_version=(".".join(export.fhir_version.split(".")[:2])
                               if chosen and chosen.mime_fhir_version else None))
        with up.open_client(settings, auth) as client, _UploadProgress(say) as progress:
            if dry_run:  # --retire/--delete-withdrawn: read the server, list, change nothing
                _withdraw(up, say, export, client, settings, progress, delete_withdrawn,
                          dry_run=True)
                return
            report = up.upload(export, client, settings, progress)
            unit = "PUT request" if per_resource else "transaction"
            sent = len(report.results)
            say(f"{len(export.entries)} resources in {sent} {unit}"
                f"{'s' * (sent != 1)} to {server}: "
                f"{report.count('created')} created, {report.count('updated')} updated, "
                f"{report.count('unchanged') + report.skipped} unchanged "
                f"({report.skipped} equal on the server and not sent; "
                f"{report.requests} requests)", err=False)
            if retire or delete_withdrawn:
                _withdraw(up, say, export, client, settings, progress, delete_withdrawn,
                          dry_run=False)
            if verify:
                differences = up.verify(export, client, settings, progress)
                if differences:
                    raise FindingsError(f"--verify: {len({p.file for p in differences})} "
                                        "resource(s) on the server differ from the export",
                                        differences)
                say(f"verified: all {len(export.entries)} resources on the server equal the "
                    "export (meta ignored)", err=False)
    except IvigFhirError as exc:
        raise stop(exc) from None
    finally:
        if token_client is not None:
            token_client.close()


def _check_approval(export: Any, required: bool, say: Callable[..., None]) -> None:
    from ivig_fhir.approval import release_approvals

    signed = release_approvals(e.resource for e in export.entries)
    if signed:
        names = ", ".join(f"{s.reviewer} ({s.role}, {s.date})" for s in signed)
        say(f"approved by {names}", err=False)
        return
    if required:
        raise BadInput(f"{export.path} carries no approval and --require-approval is set: "
                       "nothing sent (review it, `ivig-fhir approve`, `ivig-fhir build`)")
    say("WARNING: THIS EXPORT CARRIES NO APPROVAL: no reviewer has signed off this content "
        "(`ivig-fhir review`, `ivig-fhir approve`, then `ivig-fhir build`)")


def server_url(value: str, option: str = "--server") -> str:
    """`value` if it is an http(s) URL with a host and a valid port, else BadInput (exit 2,
    never retried). Credentials in the URL are refused: they would show in logs."""
    import httpx

    shown = value.split("@")[-1] if "@" in value else value  # never echo a password

    def bad(why: str) -> BadInput:
        return BadInput(f"{option} {shown!r}: {why}; give an http(s) URL, e.g. "
                        "http://127.0.0.1:8080/fhir")

    if value != value.strip() or any(c.isspace() for c in value):
        raise bad("contains white space")
    try:
        url = httpx.URL(value)
        port = url.port
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise bad(f"not a URL ({exc})") from None
    if url.scheme not in ("http", "https"):
        raise bad(f"scheme {url.scheme or '(none)'} is not http or https")
    if not url.host:
        raise bad("no host")
    if port is not None and not 0 < port < 65536:
        raise bad(f"port {port} is not 1-65535")
    if url.userinfo:
        raise bad("credentials belong in --token-file or the environment, not the URL")
    return value


def _withdraw(up: Any, say: Callable[..., None], export: Any, client: Any, settings: Any,
              progress: Any, delete: bool, *, dry_run: bool) -> None:
    """List every withdrawn resource of ours, then retire or delete them (unless dry run)."""
    sender = up.sender_for(client, settings, progress)
    actions = up.find_withdrawn(sender, up.Addressing(export, settings.client_ids),
                                delete=delete)
    verb = "delete" if delete else "retire"
    if not actions:
        say(f"withdrawn: none on the server (nothing to {verb})", err=False)
        return
    say(f"withdrawn: {len(actions)} resource(s) of this export (its identifier namespace or "
        "canonical base) on the server that the release no longer contains:", err=False)
    for a in actions:
        why = f" ({a.event.reason})" if a.event.reason else ""
        say(f"  {a.event.action:7s} {a.event.server_key}  {a.event.label}{why}", err=False)
    if dry_run:
        say(f"--dry-run: nothing changed (would {verb} "
            f"{sum(a.event.action != 'keep' for a in actions)})", err=False)
        return
    done = up.apply_withdrawn(sender, actions, settings.max_entries)
    say(f"withdrawn: {done} {'deleted' if delete else 'retired'}", err=False)


def _upload_auth(secrets: list[str], token_file: Path | None, token_url: str | None,
                 client_id: str | None, secret_file: Path | None, key_file: Path | None,
                 key_id: str | None, scope: str | None, ca_bundle: Path | None,
                 timeout: float, env: Mapping[str, str]) -> tuple[Any, Any]:
    """Credentials from files or the environment -> an httpx.Auth (or None); every secret read
    is added to `secrets` so output can be scrubbed of it."""
    import httpx

    from ivig_fhir import upload as up

    if token_url is None:
        if client_id or secret_file or key_file:
            raise BadInput("--client-id, --client-secret-file and --private-key-file need "
                           "--oauth-token-url")
        token = (up.read_secret(token_file, "token") if token_file
                 else env.get("IVIG_FHIR_TOKEN", "").strip())
        if not token:
            return None, None
        secrets.append(token)
        return up.BearerToken(token), None
    if not client_id:
        raise BadInput("--oauth-token-url needs --client-id")
    if token_file:
        raise BadInput("give either --token-file or the OAuth2 options, not both")
    key = secret = None
    if key_file:
        try:
            key = key_file.read_bytes()
        except OSError as exc:
            raise BadInput(f"cannot read --private-key-file {key_file}: {exc.strerror}") from None
    else:
        secret = (up.read_secret(secret_file, "client secret") if secret_file
                  else env.get("IVIG_FHIR_CLIENT_SECRET", "").strip()) or None
        if secret is None:
            raise BadInput("OAuth2 needs a client secret (--client-secret-file or env "
                           "IVIG_FHIR_CLIENT_SECRET) or --private-key-file")
        secrets.append(secret)
    credentials = up.ClientCredentials(token_url, client_id, secret, key, key_id, scope)
    token_client = httpx.Client(verify=up.tls_context(ca_bundle), timeout=timeout)
    return up.OAuth2ClientCredentials(credentials, token_client), token_client


class _UploadProgress:
    """Renders upload events: a rich progress bar on a terminal, plain lines otherwise (CI)."""

    def __init__(self, say: Callable[..., None]) -> None:
        self.say = say
        self.bar: Any = None
        self.task: Any = None
        self.read_task: Any = None

    def __enter__(self) -> _UploadProgress:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=False)
            self.bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text, markup=False, highlight=False)
        else:
            self.say(text)

    def __call__(self, event: object) -> None:
        from ivig_fhir import upload as up

        if isinstance(event, up.Preflighted):
            self.line(f"server {event.server}: FHIR {event.fhir_version}, {event.software}")
            for warning in event.warnings:
                self.line(f"warning: {warning}")
        elif isinstance(event, up.Compared):
            self.line(f"compared: {event.held} of {event.total} resources on the server, "
                      f"{event.unchanged} equal (not sent), {event.total - event.unchanged} "
                      f"to send; {event.requests} read requests")
        elif isinstance(event, up.ChunkStarted):
            if self.bar is not None:
                if self.task is None:
                    self.task = self.bar.add_task("uploading", total=event.total)
                self.bar.update(self.task, description=f"chunk {event.index}/{event.total}")
        elif isinstance(event, up.ChunkLanded):
            if self.bar is not None:
                self.bar.advance(self.task)
            elif event.total <= 50 or event.index % 25 == 0 or event.index == event.total:
                self.line(f"chunk {event.index}/{event.total} landed: {event.entries} "
                          f"resources ({event.created} created, {event.updated} updated, "
                          f"{event.unchanged} unchanged)")
        elif isinstance(event, up.Retrying):
            self.line(f"{event.what}: {event.reason}; retry {event.retry} in {event.wait:.1f}s")
        elif isinstance(event, up.Read):
            if self.bar is None:
                self.line(f"read back {event.count}/{event.total}")
            else:
                if self.read_task is None:
                    self.read_task = self.bar.add_task("read back", total=event.total)
                self.bar.update(self.read_task, completed=event.count)
