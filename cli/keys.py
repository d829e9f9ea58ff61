"""`solarb keys`: CEX API keys in the OS keychain, and the Solana keypair in an encrypted file.

    solarb keys set VENUE                       prompt for the venue's API key/secret; store
                                                them at the keychain entries config names
    solarb keys check [--online|--loopback]     every configured keychain entry: present/missing;
                                                online: each CEX key's permissions at its venue
                                                (a key that can withdraw fails the check)
    solarb keys keypair-new --out F             new Solana keypair, sealed (prints the pubkey)
    solarb keys keypair-import KEY.json --out F seal a solana-cli keypair file
    solarb keys keypair-check F                 open F with its password; print the pubkey

The keypair password comes from `--password-ref keychain:service:name` or a prompt (twice when
sealing). Nothing secret is ever printed: values are read with `getpass` and written only to
the keychain or the sealed file (docs/secrets.md has the file format).
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path
from typing import Any

from operators.errors import ConfigError


def _password(args: argparse.Namespace, *, new: bool) -> str:
    from connectors.secrets import resolve_secret

    if args.password_ref:
        return resolve_secret(args.password_ref)
    first = getpass.getpass("keypair password: ")
    if new and getpass.getpass("again: ") != first:
        raise ConfigError("the two passwords differ")
    if not first:
        raise ConfigError("the keypair password is empty")
    return first


def cmd_keypair_new(args: argparse.Namespace) -> int:
    """Generate a Solana keypair and write it sealed to `--out`."""
    from solders.keypair import Keypair

    from connectors.keypair import seal_keypair, write_keypair_file

    kp = Keypair()
    path = write_keypair_file(args.out, seal_keypair(bytes(kp), _password(args, new=True)))
    print(f"solarb: new keypair {kp.pubkey()} sealed in {path} (mode 0600)")
    return 0


def cmd_keypair_import(args: argparse.Namespace) -> int:
    """Seal a solana-cli keypair JSON file into `--out` (the plain file is left as it was)."""
    from connectors.keypair import seal_keypair, solana_cli_keypair_bytes, write_keypair_file

    src = Path(args.source)
    try:
        text = src.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{src}: cannot read the solana-cli keypair ({exc})") from None
    raw = solana_cli_keypair_bytes(text, path=str(src))
    sealed = seal_keypair(raw, _password(args, new=True))
    path = write_keypair_file(args.out, sealed)
    from connectors.keypair import file_pubkey

    print(f"solarb: keypair {file_pubkey(path)} sealed in {path} (mode 0600)")
    print(f"solarb: {src} still holds the key in the clear: delete it once you have a backup")
    return 0


def cmd_keypair_check(args: argparse.Namespace) -> int:
    """Open a sealed keypair with its password and print its public key."""
    from connectors.keypair import load_keypair

    signer = load_keypair(args.path, _password(args, new=False))
    print(f"solarb: {args.path} opens; pubkey {signer.pubkey()}")
    return 0


def _venue_refs(settings: Any, venue: str) -> list[tuple[str, str]]:
    v = settings.venues.get(venue)
    if v is None:
        raise ConfigError(f"[venues.{venue}] is not configured (known: {sorted(settings.venues)})")
    refs = [(f, getattr(v, f)) for f in ("api_key", "api_secret") if getattr(v, f) is not None]
    if not refs:
        raise ConfigError(f"[venues.{venue}] names no keychain entries (api_key, api_secret)")
    return refs


def cmd_set(args: argparse.Namespace) -> int:
    """Prompt for a venue's API credentials and store them in the keychain."""
    import keyring
    from keyring.errors import KeyringError

    from config import SecretRef, load_settings

    settings = load_settings(args.config, args.markets)
    for field, ref in _venue_refs(settings, args.venue):
        value = getpass.getpass(f"{args.venue} {field}: ")
        if not value:
            raise ConfigError(f"{args.venue} {field}: empty; nothing stored")
        parsed = SecretRef.parse(ref)
        try:
            keyring.set_password(parsed.service, parsed.name, value)
        except KeyringError as exc:
            raise ConfigError(f"{ref}: keychain not writable ({type(exc).__name__})") from None
        print(f"solarb: stored {args.venue} {field} at {ref}")
    return 0


def keychain_report(settings: Any) -> tuple[list[str], bool]:
    """One line per keychain entry the config names (API keys, URL references): present or
    missing, values never shown; and whether all are present."""
    from config import is_secret_ref
    from connectors.secrets import keychain_status, resolve_secret
    from operators.errors import SolarbError

    lines = [f"keychain       backend {keychain_status()}"]
    wanted: list[tuple[str, str]] = []
    for name, venue in sorted(settings.venues.items()):
        wanted += [
            (f"{name}.{field:<10}", getattr(venue, field))
            for field in ("api_key", "api_secret", "api_passphrase")
            if getattr(venue, field) is not None
        ]
    rpc = settings.rpc
    urls = [("rpc.http", u) for u in rpc.http] + [("rpc.ws", u) for u in rpc.ws]
    urls += [("rpc.failover_http", rpc.failover_http), ("rpc.failover_ws", rpc.failover_ws)]
    urls += [
        (f"{name}.{field}", getattr(v, field))
        for name, v in sorted(settings.venues.items())
        for field in ("ws_url", "rest_url")
    ]
    # plain URLs: nothing to look up
    wanted += [(f"{where:<17}", ref) for where, ref in urls if is_secret_ref(ref)]
    ok = True
    for where, ref in wanted:
        try:
            resolve_secret(ref)
            lines.append(f"  {where} present ({ref})")
        except SolarbError as exc:
            ok = False
            lines.append(f"  {where} MISSING: {exc}")
    return lines, ok


def cmd_check(args: argparse.Namespace) -> int:
    """Every keychain entry the config names: present or missing (values never shown); with
    `--online` / `--loopback` also each CEX key's permissions, asked of its venue."""
    if not (args.online or args.loopback):
        from config import load_settings

        lines, ok = keychain_report(load_settings(args.config, args.markets))
        for line in lines:
            print(line)
        print("permissions    not checked offline: `solarb keys check --online` asks each venue "
              "(no withdraw, IP restriction)")
        return 0 if ok else 1
    import asyncio

    from cli.check_online import key_permission_checks, register_loopback_keys
    from cli.live import prepared

    with prepared(args) as (settings, loop):
        lines, ok = keychain_report(settings)
        for line in lines:
            print(line)
        if loop is not None:
            register_loopback_keys(loop, settings)
        checks = asyncio.run(key_permission_checks(settings, args.timeout))
    for c in checks:
        print(c.line())
    if not checks:
        print("permissions    no CEX API key configured for the markets traded")
    return 0 if ok and all(c.ok for c in checks) else 1


def add_keys_parser(subparsers: Any) -> None:
    """Add `solarb keys ...` to `solarb`'s subparsers."""
    k = subparsers.add_parser("keys", help="API keys (keychain) and the encrypted Solana keypair")
    ks = k.add_subparsers(dest="keys_cmd", required=True)
    s = ks.add_parser("set", help="store a venue's API key/secret in the keychain (prompts)")
    s.add_argument("venue")
    s.set_defaults(func=cmd_set)
    c = ks.add_parser("check", help="list the configured keychain entries: present / missing")
    c.add_argument("--online", action="store_true",
                   help="also ask each CEX venue what its key may do (no withdraw, IP)")
    c.add_argument("--loopback", action="store_true",
                   help="--online against the loopback venues (the keychain's keys registered)")
    c.add_argument("--timeout", type=float, default=5.0, help="per request, seconds")
    c.set_defaults(func=cmd_check)
    for name, text, func in (
        ("keypair-new", "generate a Solana keypair, sealed", cmd_keypair_new),
        ("keypair-import", "seal a solana-cli keypair JSON file", cmd_keypair_import),
        ("keypair-check", "open a sealed keypair and print its pubkey", cmd_keypair_check),
    ):
        q = ks.add_parser(name, help=text)
        if name == "keypair-import":
            q.add_argument("source", help="solana-cli keypair JSON (array of 64 bytes)")
        if name == "keypair-check":
            q.add_argument("path", help="sealed keypair file")
        else:
            q.add_argument("--out", required=True, help="sealed keypair file to write (0600)")
        q.add_argument(
            "--password-ref",
            help="keychain:service:name holding the password (default: prompt)",
        )
        q.set_defaults(func=func)
