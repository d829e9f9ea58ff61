"""Program error tables: custom error number -> the program's own error name, per DEX program.

A failed swap comes back as `InstructionError[index, Custom(n)]`; `tx_outcome.decode_error`
names `n` from the failing program's table here. Every table is the program's whole error enum,
checked against the program's own source (numbers are the enum's order: Anchor programs start
their `#[error_code]` enums at 6000, Phoenix numbers its `PhoenixError` from 0 explicitly):

- Orca Whirlpool: orca-so/whirlpools `programs/whirlpool/src/errors.rs` at
  630c0e01b74ad88eab69f8ed4cc2d3dc9a3d0bd5 (file last changed at e5f089bc5c49);
- Raydium CLMM: raydium-io/raydium-clmm `programs/amm/src/error.rs` at
  03b44b7ff41014b3fc715d445ee05f08d3815a99 (file last changed at 695968c3e93d);
- Phoenix v1: Ellipsis-Labs/phoenix-v1 `src/program/error.rs` at
  dac82fef2b8862be04fa6710386f3e7485a31a48 (file last changed at 38a2129affab);
- OpenBook v2: openbook-dex/openbook-v2 `programs/openbook-v2/src/error.rs` at
  f3e17421e675b083b584867594bf3cf4f675d156 (file last changed at b954445f532e);
- Anchor framework: coral-xyz/anchor `lang/src/error.rs` at
  049dfa1d1fdce59bea60c38492884f6a387b5edd;
- SPL Token: solana-program/token `interface/src/error.rs` at
  2adf089ef09176e8af08843a14b4a82c900847fa (`TokenError`, 0..19; Token-2022 numbers the same
  base set alike and adds its extensions' errors after it, which are not named here);
- System program: `SystemError` (0..8), as agave's system program returns it.

A token transfer inside a swap fails in the token program, called by the DEX program: the
transaction's error names only the outer instruction, so the custom number is the token
program's. `tx_outcome.decode_error` reads the failing program from the program log
(`Program <id> failed: custom program error: 0x<n>`, the innermost first) when the RPC returns
one (`simulateTransaction`, preflight refusals, `getTransaction`).

Raydium CLMM renumbered its enum at f16c59a (2026-04-21, "replace production panics with
ErrorCode propagation"): `LOK`, `ZeroMintAmount`, `InvalidLiquidity`, `TransactionTooOld` and
`InvalidRewardDesiredAmount` were removed, so e.g. `TooLittleOutputReceived` went from 6022 to
6018. The table follows the current source. A cluster still running a build from before that
commit would report the old numbers, which this table names wrongly; the transaction's program
log (`Error Code: <name>. Error Number: <n>.`, in `getTransaction`; the sender does not keep
logs) names the error either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "ANCHOR_ERRORS",
    "OPENBOOK_ERRORS",
    "PHOENIX_ERRORS",
    "RAYDIUM_CLMM_ERRORS",
    "SYSTEM_ERRORS",
    "TOKEN_ERRORS",
    "WHIRLPOOL_ERRORS",
    "error_number",
]

ANCHOR_ERROR_OFFSET = 6000
"""Where an Anchor program's own `#[error_code]` enum starts (`ERROR_CODE_OFFSET`)."""


def _numbered(first: int, names: Sequence[str]) -> dict[int, str]:
    return {first + i: name for i, name in enumerate(names)}


ANCHOR_ERRORS: Mapping[int, str] = {
    **_numbered(
        100,
        (
            "InstructionMissing",
            "InstructionFallbackNotFound",
            "InstructionDidNotDeserialize",
            "InstructionDidNotSerialize",
        ),
    ),
    **_numbered(
        2000,
        (
            "ConstraintMut",
            "ConstraintHasOne",
            "ConstraintSigner",
            "ConstraintRaw",
            "ConstraintOwner",
            "ConstraintRentExempt",
            "ConstraintSeeds",
            "ConstraintExecutable",
            "ConstraintState",
            "ConstraintAssociated",
            "ConstraintAssociatedInit",
            "ConstraintClose",
            "ConstraintAddress",
            "ConstraintZero",
            "ConstraintTokenMint",
            "ConstraintTokenOwner",
            "ConstraintMintMintAuthority",
            "ConstraintMintFreezeAuthority",
            "ConstraintMintDecimals",
            "ConstraintSpace",
        ),
    ),
    **_numbered(
        3000,
        (
            "AccountDiscriminatorAlreadySet",
            "AccountDiscriminatorNotFound",
            "AccountDiscriminatorMismatch",
            "AccountDidNotDeserialize",
            "AccountDidNotSerialize",
            "AccountNotEnoughKeys",
            "AccountNotMutable",
            "AccountOwnedByWrongProgram",
            "InvalidProgramId",
            "InvalidProgramExecutable",
            "AccountNotSigner",
            "AccountNotSystemOwned",
            "AccountNotInitialized",
            "AccountNotProgramData",
            "AccountNotAssociatedTokenAccount",
            "AccountSysvarMismatch",
        ),
    ),
    4100: "DeclaredProgramIdMismatch",
}
"""The Anchor framework's own errors (account and constraint checks), shared by every Anchor
program: the instruction, constraint and account ranges of `anchor_lang::error::ErrorCode`."""

WHIRLPOOL_ERRORS: Mapping[int, str] = {
    **ANCHOR_ERRORS,
    **_numbered(
        ANCHOR_ERROR_OFFSET,
        (
            "InvalidEnum",
            "InvalidStartTick",
            "TickArrayExistInPool",
            "TickArrayIndexOutofBounds",
            "InvalidTickSpacing",
            "ClosePositionNotEmpty",
            "DivideByZero",
            "NumberCastError",
            "NumberDownCastError",
            "TickNotFound",
            "InvalidTickIndex",
            "SqrtPriceOutOfBounds",
            "LiquidityZero",
            "LiquidityTooHigh",
            "LiquidityOverflow",
            "LiquidityUnderflow",
            "LiquidityNetError",
            "TokenMaxExceeded",
            "TokenMinSubceeded",
            "MissingOrInvalidDelegate",
            "InvalidPositionTokenAmount",
            "InvalidTimestampConversion",
            "InvalidTimestamp",
            "InvalidTickArraySequence",
            "InvalidTokenMintOrder",
            "RewardNotInitialized",
            "InvalidRewardIndex",
            "RewardVaultAmountInsufficient",
            "FeeRateMaxExceeded",
            "ProtocolFeeRateMaxExceeded",
            "MultiplicationShiftRightOverflow",
            "MulDivOverflow",
            "MulDivInvalidInput",
            "MultiplicationOverflow",
            "InvalidSqrtPriceLimitDirection",
            "ZeroTradableAmount",
            "AmountOutBelowMinimum",
            "AmountInAboveMaximum",
            "TickArraySequenceInvalidIndex",
            "AmountCalcOverflow",
            "AmountRemainingOverflow",
            "InvalidIntermediaryMint",
            "DuplicateTwoHopPool",
            "InvalidBundleIndex",
            "BundledPositionAlreadyOpened",
            "BundledPositionAlreadyClosed",
            "PositionBundleNotDeletable",
            "UnsupportedTokenMint",
            "RemainingAccountsInvalidSlice",
            "RemainingAccountsInsufficient",
            "NoExtraAccountsForTransferHook",
            "IntermediateTokenAmountMismatch",
            "TransferFeeCalculationError",
            "RemainingAccountsDuplicatedAccountsType",
            "FullRangeOnlyPool",
            "TooManySupplementalTickArrays",
            "DifferentWhirlpoolTickArrayAccount",
            "PartialFillError",
            "PositionNotLockable",
            "OperationNotAllowedOnLockedPosition",
            "SameTickRangeNotAllowed",
            "InvalidAdaptiveFeeConstants",
            "InvalidFeeTierIndex",
            "InvalidTradeEnableTimestamp",
            "TradeIsNotEnabled",
            "RentCalculationError",
            "FeatureIsNotEnabled",
            "PositionWithTokenExtensionsRequired",
            "AdaptiveFeeConstantsUnchanged",
            "PriceSlippageOutOfBounds",
        ),
    ),
}
"""Orca Whirlpool `ErrorCode` (6000..6069) plus Anchor's framework errors."""

RAYDIUM_CLMM_ERRORS: Mapping[int, str] = {
    **ANCHOR_ERRORS,
    **_numbered(
        ANCHOR_ERROR_OFFSET,
        (
            "NotApproved",
            "InvalidUpdateConfigFlag",
            "AccountLack",
            "ClosePositionErr",
            "InvalidTickIndex",
            "TickInvalidOrder",
            "TickLowerOverflow",
            "TickUpperOverflow",
            "TickAndSpacingNotMatch",
            "InvalidTickArray",
            "InvalidTickArrayBoundary",
            "SqrtPriceLimitOverflow",
            "SqrtPriceX64",
            "LiquiditySubValueErr",
            "LiquidityAddValueErr",
            "ForbidBothZeroForSupplyLiquidity",
            "LiquidityInsufficient",
            "PriceSlippageCheck",
            "TooLittleOutputReceived",
            "TooMuchInputPaid",
            "ZeroAmountSpecified",
            "InvalidInputPoolVault",
            "TooSmallInputOrOutputAmount",
            "NotEnoughTickArrayAccount",
            "InvalidFirstTickArrayAccount",
            "InvalidRewardIndex",
            "FullRewardInfo",
            "RewardTokenAlreadyInUse",
            "ExceptRewardMint",
            "InvalidRewardInitParam",
            "InvalidRewardInputAccountNumber",
            "InvalidRewardPeriod",
            "NotApproveUpdateRewardEmissions",
            "UnInitializedRewardInfo",
            "NotSupportMint",
            "MissingTickArrayBitmapExtensionAccount",
            "InsufficientLiquidityForDirection",
            "MaxTokenOverflow",
            "CalculateOverflow",
            "TransferFeeCalculateNotMatch",
            "OrderAlreadyFilled",
            "InvalidOrderPhase",
            "InvalidLimitOrderAmount",
            "OrderPhaseSaturated",
            "InvalidDynamicFeeConfigParams",
            "InvalidFeeOn",
            "ZeroSqrtPrice",
            "ZeroLiquidity",
            "MissingBaseFlag",
            "MissingMintAccount",
            "MissingTokenProgram2022",
            "InvalidTickArrayBitmapExtensionAccount",
        ),
    ),
}
"""Raydium CLMM `ErrorCode` (6000..6051, numbering since f16c59a) plus Anchor's framework errors."""

PHOENIX_ERRORS: Mapping[int, str] = _numbered(
    0,
    (
        "InvalidMarketParameters",
        "InvalidMarketAuthority",
        "FailedToLoadMarketFromAccount",
        "MarketAlreadyInitialized",
        "MarketUninitialized",
        "InvalidStateTransition",
        "InvalidMarketSigner",
        "InvalidLotSize",
        "InvalidTickSize",
        "InvalidMint",
        "InvalidBaseVault",
        "InvalidQuoteVault",
        "InvalidBaseAccount",
        "InvalidQuoteAccount",
        "TooManyEvents",
        "NewOrderError",
        "ReduceOrderError",
        "CancelMultipleOrdersError",
        "WithdrawFundsError",
        "RemoveEmptyOrdersError",
        "TraderNotFound",
        "InvalidSeatStatus",
        "EvictionError",
        "NonEmptyScratchBuffer",
        "FailedToSerializeEvent",
        "FailedToFlushBuffer",
    ),
)
"""Phoenix `PhoenixError` (0..25; not an Anchor program: no framework errors)."""

OPENBOOK_ERRORS: Mapping[int, str] = {
    **ANCHOR_ERRORS,
    **_numbered(
        ANCHOR_ERROR_OFFSET,
        (
            "SomeError",
            "InvalidInputNameLength",
            "InvalidInputMarketExpired",
            "InvalidInputMarketFees",
            "InvalidInputLots",
            "InvalidInputLotsSize",
            "InvalidInputOrdersAmounts",
            "InvalidInputCancelSize",
            "InvalidInputPriceLots",
            "InvalidInputPegLimit",
            "InvalidInputOrderType",
            "InvalidInputOrderId",
            "InvalidInputHeapSlots",
            "InvalidOracleTypes",
            "InvalidSecondOracle",
            "NoCloseMarketAdmin",
            "InvalidCloseMarketAdmin",
            "InvalidOpenOrdersAdmin",
            "InvalidConsumeEventsAdmin",
            "InvalidMarketVault",
            "IndexerActiveOO",
            "OraclePegInvalidOracleState",
            "UnknownOracleType",
            "OracleConfidence",
            "OracleStale",
            "OrderIdNotFound",
            "EventHeapContainsElements",
            "InvalidOrderPostIOC",
            "InvalidOrderPostMarket",
            "WouldSelfTrade",
            "MarketHasExpired",
            "InvalidPriceLots",
            "InvalidOraclePrice",
            "MarketHasNotExpired",
            "NoOwnerOrDelegate",
            "NoOwner",
            "OpenOrdersFull",
            "BookContainsElements",
            "OpenOrdersOrderNotFound",
            "InvalidPostAmount",
            "DisabledOraclePeg",
            "NonEmptyMarket",
            "NonEmptyOpenOrdersPosition",
            "WouldExecutePartially",
        ),
    ),
}
"""OpenBook v2 `OpenBookError` (6000..6043) plus Anchor's framework errors."""


TOKEN_ERRORS: Mapping[int, str] = _numbered(
    0,
    (
        "NotRentExempt",
        "InsufficientFunds",
        "InvalidMint",
        "MintMismatch",
        "OwnerMismatch",
        "FixedSupply",
        "AlreadyInUse",
        "InvalidNumberOfProvidedSigners",
        "InvalidNumberOfRequiredSigners",
        "UninitializedState",
        "NativeNotSupported",
        "NonNativeHasBalance",
        "InvalidInstruction",
        "InvalidState",
        "Overflow",
        "AuthorityTypeNotSupported",
        "MintCannotFreeze",
        "AccountFrozen",
        "MintDecimalsMismatch",
        "NonNativeNotSupported",
    ),
)
"""SPL Token `TokenError` (0..19), the base set Token-2022 shares."""

SYSTEM_ERRORS: Mapping[int, str] = _numbered(
    0,
    (
        "AccountAlreadyInUse",
        "ResultWithNegativeLamports",
        "InvalidProgramId",
        "InvalidAccountDataLength",
        "MaxSeedLengthExceeded",
        "AddressWithSeedMismatch",
        "NonceNoRecentBlockhashes",
        "NonceBlockhashNotExpired",
        "NonceUnexpectedBlockhashValue",
    ),
)
"""The System program's `SystemError` (0..8)."""


def error_number(table: Mapping[int, str], name: str) -> int:
    """The custom error number `name` has in `table`; `KeyError` naming it if absent."""
    for number, known in table.items():
        if known == name:
            return number
    raise KeyError(f"no error named {name!r} in this program's table")
