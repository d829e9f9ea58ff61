"""Well-known Solana programs and the small instructions every swap transaction may carry.

Sans-I/O: values in, `solders` instructions out. Facts used (Solana program docs):
- an associated token account (ATA) is the PDA of [owner, token program, mint] under the
  associated token program; its `CreateIdempotent` instruction (data = [1]) takes payer (signer,
  writable), ata (writable), owner, mint, system program, token program and succeeds when the
  account already exists, so it is safe to add whenever we are not sure the account is there;
- Anchor instructions start with sha256("global:<snake_case name>")[:8].
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from operators.errors import ExecutionError

__all__ = [
    "ASSOCIATED_TOKEN_PROGRAM_ID",
    "MEMO_PROGRAM_ID",
    "SYSTEM_PROGRAM_ID",
    "TOKEN_2022_PROGRAM_ID",
    "TOKEN_PROGRAM_ID",
    "anchor_ix_discriminator",
    "associated_token_address",
    "create_ata_idempotent",
    "meta",
    "pubkey",
]

TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM_ID = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
ASSOCIATED_TOKEN_PROGRAM_ID = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
SYSTEM_PROGRAM_ID = Pubkey.from_string("11111111111111111111111111111111")

_CREATE_IDEMPOTENT = bytes([1])


def anchor_ix_discriminator(name: str) -> bytes:
    """The 8 bytes Anchor puts before an instruction's args: sha256("global:<name>")[:8]."""
    return hashlib.sha256(f"global:{name}".encode()).digest()[:8]


@lru_cache(maxsize=4096)
def _pubkey_cached(key: str) -> Pubkey:
    return Pubkey.from_string(key)


def pubkey(key: str | Pubkey, what: str = "account") -> Pubkey:
    """A `Pubkey` from base58 (cached: the same pool keys are parsed on every trade)."""
    if isinstance(key, Pubkey):
        return key
    try:
        return _pubkey_cached(key)
    except ValueError as exc:
        # not retryable: the same bad key fails the same way every time
        raise ExecutionError(f"{what} {key!r} is not a base58 pubkey", retryable=False) from exc


def meta(key: str | Pubkey, *, signer: bool = False, writable: bool = False) -> AccountMeta:
    """An account meta from a base58 key or Pubkey."""
    return AccountMeta(pubkey(key), is_signer=signer, is_writable=writable)


@lru_cache(maxsize=4096)
def _ata(owner: Pubkey, mint: Pubkey, token_program: Pubkey) -> Pubkey:
    seeds = [bytes(owner), bytes(token_program), bytes(mint)]
    return Pubkey.find_program_address(seeds, ASSOCIATED_TOKEN_PROGRAM_ID)[0]


def associated_token_address(
    owner: str | Pubkey, mint: str | Pubkey, token_program: str | Pubkey = TOKEN_PROGRAM_ID
) -> Pubkey:
    """The owner's associated token account of `mint` under `token_program`."""
    return _ata(pubkey(owner, "owner"), pubkey(mint, "mint"), pubkey(token_program, "program"))


def create_ata_idempotent(
    payer: str | Pubkey,
    owner: str | Pubkey,
    mint: str | Pubkey,
    token_program: str | Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """Associated token program `CreateIdempotent`: create the ATA unless it already exists."""
    program = pubkey(token_program, "token program")
    ata = associated_token_address(owner, mint, program)
    return Instruction(
        ASSOCIATED_TOKEN_PROGRAM_ID,
        _CREATE_IDEMPOTENT,
        [
            meta(payer, signer=True, writable=True),
            AccountMeta(ata, is_signer=False, is_writable=True),
            meta(owner),
            meta(mint),
            AccountMeta(SYSTEM_PROGRAM_ID, is_signer=False, is_writable=False),
            AccountMeta(program, is_signer=False, is_writable=False),
        ],
    )
