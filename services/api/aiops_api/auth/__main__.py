"""Auth command line.

    python -m aiops_api.auth token SUBJECT viewer|operator|admin [--minutes N]   mint a machine access token
    python -m aiops_api.auth create-admin USERNAME [--email E] [--password-stdin]  create an admin user

create-admin reads the password from standard input (one line) with --password-stdin, else prompts for it;
it is never a command-line argument, which other users of the host could read.
"""

import argparse
import asyncio
import getpass
import sys

from aiops_api.auth.bootstrap import WeakPassword, create_admin
from aiops_api.auth.passwords import Passwords
from aiops_api.auth.tokens import Role, issue_access_token
from aiops_api.settings import ApiSettings
from aiops_contracts.db.session import make_engine, make_sessionmaker

# Access tokens cannot be revoked one by one (only by rotating JWT_SECRET / the key pair): bound their life.
MAX_MACHINE_TOKEN_MINUTES = 90 * 24 * 60


def _lifetime(text: str) -> int:
    minutes = int(text)
    if not 1 <= minutes <= MAX_MACHINE_TOKEN_MINUTES:
        raise argparse.ArgumentTypeError(f"between 1 and {MAX_MACHINE_TOKEN_MINUTES} minutes (90 days)")
    return minutes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aiops_api.auth")
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="mint an access token for a machine client")
    token.add_argument("subject")
    token.add_argument("role", choices=list(Role.__members__))
    token.add_argument("--minutes", type=_lifetime, default=None,
                       help=f"lifetime (default ACCESS_TOKEN_MINUTES, at most {MAX_MACHINE_TOKEN_MINUTES})")
    admin = commands.add_parser("create-admin", help="create an admin user")
    admin.add_argument("username")
    admin.add_argument("--email", default=None)
    admin.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Repeat password: "):
        sys.exit("passwords differ")
    return password


async def _create_admin(settings: ApiSettings, args: argparse.Namespace, password: str) -> bool:
    engine = make_engine(settings)
    passwords = Passwords(1)
    try:
        async with make_sessionmaker(engine)() as session:
            return await create_admin(session, username=args.username, password=password, email=args.email,
                                      passwords=passwords)
    finally:
        passwords.close()
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    settings = ApiSettings()
    if args.command == "token":
        print(issue_access_token(settings, args.subject, Role[args.role], args.minutes))
        return
    try:
        created = asyncio.run(_create_admin(settings, args, _read_password(args.password_stdin)))
    except WeakPassword as exc:
        sys.exit(str(exc))
    if not created:
        sys.exit(f"a user named {args.username} exists")
    print(f"admin {args.username} created")


if __name__ == "__main__":
    main()
