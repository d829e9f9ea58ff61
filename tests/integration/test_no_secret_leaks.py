"""No secret reaches any output: the loopback flows run with known test secrets, then every
output is scanned for each secret in raw, base64 (standard and URL-safe), hex and, for the
Solana keypair, base58 forms.

Secrets: Binance / OKX / Bybit API keys, secrets and the OKX passphrase (in a test keyring
backend, `tests/env_keyring.py`), a sealed Solana keypair and its password, and a provider token
in every RPC URL (`SOLARB_LOOPBACK_RPC_TOKEN`). Runs, each a `solarb` subprocess on loopback:
`check --loopback`, `keys check --loopback`, `keys keypair-check`, `paper` and
`live --signals-only` (both with DEBUG JSON logs and OTLP traces to a local receiver).
Outputs scanned: stdout and stderr (the logs) of each run, every file under the journals (raw
bytes and every table's decoded rows), report.md / report.html, every span received over OTLP
(names, attributes, status), and the text of the errors a wrong secret or a dead keyed
endpoint raise.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from solders.keypair import Keypair

from connectors.journal import TABLES, read_table
from connectors.keypair import seal_keypair, write_keypair_file
from sim.otlp_receiver import GrpcReceiver
from sim.simulate import SAMPLE_MARKETS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
ROOT = Path(__file__).resolve().parents[2]
ALL_MARKETS = ROOT / "sim" / "sample" / "markets_all.toml"

KEYPAIR = Keypair.from_seed(bytes(range(7, 39)))
PASSWORD = "keypair-pw-Zq8v1"
RPC_TOKEN = "rpcTOKEN5f3a9c"
CEX = {
    "binance": {"api_key": "bnKEY7c1d0e", "api_secret": "bnSECRETa9f2e4"},
    "okx": {"api_key": "okxKEY3b8d2f", "api_secret": "okxSECRET6e1c7a",
            "api_passphrase": "okxPASS4d9b"},
    "bybit": {"api_key": "bybitKEY1f7e3", "api_secret": "bybitSECRET8c2d5"},
}


_B58 = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58(data: bytes) -> bytes:
    """Base58 (Bitcoin alphabet), as Solana prints keys."""
    n, out = int.from_bytes(data, "big"), b""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r : r + 1] + out
    return b"1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _forms(secret: str | bytes) -> list[bytes]:
    raw = secret.encode() if isinstance(secret, str) else secret
    out = [raw, raw.hex().encode(), raw.hex().upper().encode()]
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        out.append(enc(raw).rstrip(b"="))
    return out


def _keypair_forms() -> list[bytes]:
    secret = bytes(KEYPAIR)  # 64 bytes: seed + public key
    seed = secret[:32]
    return [
        *_forms(secret), *_forms(seed), b58(secret), b58(seed),
        json.dumps(list(secret)).encode(), ",".join(map(str, secret[:32])).encode(),
    ]


def _needles() -> dict[bytes, str]:
    needles = {f: "rpc token" for f in _forms(RPC_TOKEN)}
    needles |= {f: "keypair password" for f in _forms(PASSWORD)}
    needles |= {f: "solana keypair" for f in _keypair_forms()}
    for venue, fields in CEX.items():
        for field, value in fields.items():
            needles |= {f: f"{venue} {field}" for f in _forms(value)}
    return needles


NEEDLES = _needles()


def _leaks(blob: bytes) -> list[str]:
    return sorted({f"{what} as {form!r}" for form, what in NEEDLES.items() if form in blob})


def _markets(tmp: Path) -> Path:
    """Binance, OKX and Bybit books with an Orca pool (what --loopback serves)."""
    text = ALL_MARKETS.read_text()
    out = tmp / "markets.toml"
    out.write_text(text[: text.index('  [[pairs.markets]]\n  venue = "raydium_clmm"')])
    return out


def _env(otlp: str) -> dict[str, str]:
    keyring = {"solarb:keypair_password": PASSWORD}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOLARB__", "OTEL_"))}
    for venue, fields in CEX.items():
        for field, value in fields.items():
            keyring[f"solarb:{venue}_{field}"] = value
            env[f"SOLARB__VENUES__{venue.upper()}__{field.upper()}"] = json.dumps(
                f"keychain:solarb:{venue}_{field}")
    return env | {
        "PYTHON_KEYRING_BACKEND": "tests.env_keyring.EnvKeyring",
        "SOLARB_TEST_KEYRING": json.dumps(keyring),
        "SOLARB_LOOPBACK_RPC_TOKEN": RPC_TOKEN,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "PYTHONPATH": str(ROOT),
    }


def test_no_secret_in_any_output_of_the_loopback_flows(tmp_path: Path) -> None:
    markets = _markets(tmp_path)
    sealed = tmp_path / "wallet" / "id.solarb.json"
    write_keypair_file(sealed, seal_keypair(bytes(KEYPAIR), PASSWORD, scrypt_n=2**12))
    ctl = tmp_path / "control"
    receiver = GrpcReceiver()
    outputs: dict[str, bytes] = {}
    try:
        env = _env(receiver.endpoint) | {"SOLARB__ENGINE__CONTROL_DIR": json.dumps(str(ctl))}
        base = [sys.executable, "-m", "cli.main", "--markets", str(markets)]
        debug = ["--log-format", "json", "--log-level", "DEBUG"]
        runs = {
            "check": [*base, "check", "--loopback", "--within", "8"],
            "keys": [*base, "keys", "check", "--loopback"],
            "keypair": [*base, "keys", "keypair-check", str(sealed),
                        "--password-ref", "keychain:solarb:keypair_password"],
            "paper": [*base, *debug, "paper", "--loopback", "--duration", "6",
                      "--journal", str(tmp_path / "j-paper"),
                      "--report", str(tmp_path / "paper" / "report.md")],
            "live": [*base, *debug, "live", "--loopback", "--signals-only", "--duration", "5",
                     "--journal", str(tmp_path / "j-live"),
                     "--report", str(tmp_path / "live" / "report.md")],
        }
        codes = {}
        for name, cmd in runs.items():
            p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=120)
            codes[name] = p.returncode
            outputs[f"{name} stdout"] = p.stdout
            outputs[f"{name} stderr"] = p.stderr
        spans = receiver.spans
    finally:
        receiver.close()
    # every run did its work: the secrets were used, so a leak had its chance
    assert codes == dict.fromkeys(runs, 0), {k: outputs[f"{k} stderr"][-2000:] for k in codes}
    assert b"GREEN" in outputs["check stdout"]
    assert outputs["keys stdout"].count(b"no withdraw, can trade") == 3
    assert str(KEYPAIR.pubkey()).encode() in outputs["keypair stdout"]
    assert b'"level": "DEBUG"' in outputs["paper stderr"] or b"DEBUG" in outputs["paper stderr"]
    assert spans, "no trace reached the OTLP receiver"
    journals = [tmp_path / "j-paper", tmp_path / "j-live"]
    files = [f for j in journals for f in j.rglob("*") if f.is_file()]
    assert any(f.suffix == ".parquet" for f in files)
    for report in ("paper", "live"):
        files += [f for f in (tmp_path / report).glob("report.*") if f.is_file()]
    assert {f.name for f in files} >= {"report.md", "report.html"}
    for f in files:
        outputs[str(f.relative_to(tmp_path))] = f.read_bytes()
    for j in journals:
        for run in (d for d in j.iterdir() if d.is_dir()):
            for table in set(TABLES.values()):
                t = read_table(run, table)
                if t is not None:
                    outputs[f"{run.name}/{table} rows"] = json.dumps(
                        t.to_pylist(), default=str).encode()
    outputs["otlp spans"] = repr(spans).encode()
    outputs["errors"] = _error_texts().encode()
    leaks = {where: found for where, blob in outputs.items() if (found := _leaks(blob))}
    for where in leaks:
        for line in outputs[where].splitlines():
            if _leaks(line):
                print(where, line[:600])
    assert leaks == {}


def _error_texts() -> str:
    """What a user reads when a secret is wrong or a keyed endpoint is dead."""
    from cli.main import report_error
    from connectors.cex import key_permissions as kp
    from connectors.cex.orders.common import Credentials
    from connectors.keypair import open_keypair
    from connectors.secrets import resolve_secret
    from connectors.solana.rpc import SolanaRpc
    from operators.errors import SolarbError

    texts: list[str] = []
    creds = Credentials(CEX["okx"]["api_key"], CEX["okx"]["api_secret"],
                        passphrase=CEX["okx"]["api_passphrase"])
    texts += [repr(creds), str(creds)]
    req = kp.request_for("okx", creds, 1_700_000_000_000, 5000)
    try:
        kp.parse("okx", b'{"code":"50113","msg":"Invalid Sign.","data":[]}', 401)
    except SolarbError as exc:
        texts.append(str(exc))
    texts.append(repr(req.params))
    try:
        resolve_secret(CEX["bybit"]["api_secret"])  # a value where a reference belongs
    except SolarbError as exc:
        texts.append(str(exc))
    try:
        open_keypair(seal_keypair(bytes(KEYPAIR), PASSWORD, scrypt_n=2**12), PASSWORD + "x")
    except SolarbError as exc:
        texts.append(str(exc))
    dead = f"http://127.0.0.1:9/?api-key={RPC_TOKEN}"
    rpc_settings = type("Rpc", (), {"http": [dead], "ws": [dead.replace("http", "ws")],
                                    "failover_http": "", "failover_ws": "",
                                    "commitment": "confirmed", "timeout_ms": 300})()

    async def call() -> None:
        rpc = SolanaRpc(rpc_settings, max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.02)
        try:
            await rpc.get_slot()
        finally:
            await rpc.close()

    try:
        asyncio.run(call())
    except SolarbError as exc:
        texts.append(str(exc))
        texts.append(repr(exc))
        report_error(exc)
    assert len(texts) >= 6, texts
    return "\n".join(texts)


def test_the_scanner_finds_each_form_it_looks_for() -> None:
    """The scan is not vacuous: each secret form planted in a blob is found."""
    assert _leaks(b"...a token " + RPC_TOKEN.encode() + b" in a log line")
    assert _leaks(b58(bytes(KEYPAIR)))
    assert _leaks(base64.b64encode(CEX["okx"]["api_passphrase"].encode()))
    assert _leaks(CEX["bybit"]["api_secret"].encode().hex().encode())
    assert _leaks(bytes(KEYPAIR))
    assert _leaks(str(KEYPAIR.pubkey()).encode()) == []  # the pubkey is public
    assert b58(bytes(KEYPAIR)) == str(KEYPAIR).encode()  # solders prints the secret so
    assert SAMPLE_MARKETS.is_file()
