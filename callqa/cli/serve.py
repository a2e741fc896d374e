"""``callqa serve``: the QA workbench on a batch's output directory, and its users."""

from __future__ import annotations

import errno
import secrets
import socket
from pathlib import Path
from typing import Optional

import typer

from callqa.batch.store import DB_NAME, DEFAULT_OUT_DIR
from callqa.cli import app, fail
from callqa.errors import CallqaError

__all__ = ["serve", "adduser"]

serve_app = typer.Typer(
    invoke_without_command=True, no_args_is_help=False, rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(serve_app, name="serve")

_OUT_HELP = "The batch's output directory (its callqa.db and results)."


@serve_app.callback()
def serve(
    ctx: typer.Context,
    out: Path = typer.Option(DEFAULT_OUT_DIR, "--out", "-o", help=_OUT_HELP),
    host: str = typer.Option(
        "127.0.0.1", "--host",
        help="Address to bind. Anything but loopback requires users (adduser or --users); "
             "with users, everyone logs in, on loopback too."),
    port: int = typer.Option(8000, "--port", "-p", help="TCP port."),
    users: Optional[Path] = typer.Option(
        None, "--users", help="YAML file of users (name, role, secret_hash, agent_id); they "
                              "are added to the users in the database."),
) -> None:
    """Start the workbench on OUT (http://127.0.0.1:8000 by default).

    Calls list with filters, search across transcripts, call pages with the recording.

    Reviewers confirm or reject findings and add missed ones; agents appeal their own calls.

    Sampling queues, rule precision and per-agent metrics. See docs/workbench.md.

    Users: [bold]callqa serve adduser[/bold] or --users FILE.

    Exit codes: 0 stopped (Ctrl-C); 2 no batch database in OUT, bad users file, unsafe
    --host, or HOST:PORT cannot be listened on (in use, not an address of this machine).
    """
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from callqa.serve import create_app

    try:
        application = create_app(out, users_file=users, host=host)
        sock = _listen(host, port)
    except CallqaError as exc:
        raise fail(exc) from None
    s = application.state.settings
    mode = "login required" if s.auth_required else f"no users: local reviewer {s.local_user.name}"
    typer.echo(f"callqa serve: {out / DB_NAME} on http://{host}:{port} ({mode})", err=True)
    server = uvicorn.Server(uvicorn.Config(application, host=host, port=port,
                                           log_level="warning"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: a normal stop
        pass


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, made before anything is printed, so a busy port is a clear
    usage error (exit 2) rather than a banner followed by a server error."""
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as exc:
        raise CallqaError(where, f"cannot listen: {getattr(exc, 'strerror', None) or exc}") \
            from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        hint = " (another server is using it: stop it or pick another --port)" \
            if exc.errno == errno.EADDRINUSE else ""
        raise CallqaError(where, f"cannot listen: {exc.strerror or exc}{hint}") from None
    sock.set_inheritable(True)
    return sock


@serve_app.command("adduser")
def adduser(
    name: str = typer.Argument(..., help="User name (for an agent, usually the agent id)."),
    role: str = typer.Option(..., "--role", help="reviewer, agent, trainer (makes drills, sees the cohort), trainee (takes assigned drills) or privacy (reads every call masked, opens originals, sees who did; docs/privacy.md)."),
    agent_id: Optional[str] = typer.Option(
        None, "--agent-id", help="The agent id whose calls an agent sees (default: NAME)."),
    out: Path = typer.Option(DEFAULT_OUT_DIR, "--out", "-o", help=_OUT_HELP),
    password: bool = typer.Option(
        False, "--password", help="Ask for a password instead of generating a token."),
    print_hash: bool = typer.Option(
        False, "--print-hash", help="Do not touch the database: print a users-file entry "
                                    "(with the hash) for --users."),
) -> None:
    """Add (or replace) a user; a token is printed once (stderr), unless --password.

    Only a scrypt hash of the secret is stored.

    Exit codes: 0 added, 2 bad role or no batch database in OUT.
    """
    from callqa.verdicts import ROLES, ReviewStore, hash_secret

    if role not in ROLES:
        typer.echo(f"callqa: error: --role must be one of {', '.join(ROLES)}, not {role!r}",
                   err=True)
        raise typer.Exit(2)
    if password:
        secret = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        secret = secrets.token_urlsafe(18)
        typer.echo(f"token for {name}: {secret}", err=True)
    if print_hash:
        agent = f"\n    agent_id: {agent_id or name}" if role == "agent" else ""
        typer.echo(f"  - name: {name}\n    role: {role}{agent}\n    secret_hash: "
                   f"'{hash_secret(secret)}'")
        return
    db_path = out / DB_NAME
    if not db_path.is_file():
        typer.echo(f"callqa: error: {out}: no {DB_NAME} here: run 'callqa batch ... --out "
                   f"{out}' first", err=True)
        raise typer.Exit(2)
    try:
        with ReviewStore.open(db_path) as rs:
            user = rs.add_user(name, role, secret, agent_id)
    except CallqaError as exc:
        raise fail(exc) from None
    typer.echo(f"callqa serve: {user.role} {user.name} added to {db_path}", err=True)
