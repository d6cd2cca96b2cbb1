"""Input checks that need no network: a bad argument is a usage error naming its flag."""

from __future__ import annotations

import argparse

from axorders.cli.exits import UsageError
from axorders.exceptions import InvalidOrderError
from axorders.model import (
    Instrument,
    OrderType,
    Side,
    TimeInForce,
    check_client_order_id,
    to_decimal,
)


def _usage(exc: InvalidOrderError, flags: dict[str, str] | None = None) -> UsageError:
    """A local refusal as a usage error that names the argument that fixes it."""
    field = getattr(exc, "field", "")
    flag = (flags or {}).get(field, _FLAGS.get(field))
    text = str(exc)
    if flag and not text.startswith(flag):
        text = f"{flag}: {text.partition(': ')[2] or text}"
    return UsageError(text)


_FLAGS = {
    "client_order_id": "--id",
    "trigger_price": "--trigger",
    "time_in_force": "--tif",
    "order_type": "--type",
    "tag": "--tag",
    "post_only": "--post-only",
}


def _check_place(args: argparse.Namespace) -> None:
    try:
        Side.parse(args.side)
        otype = OrderType.parse(args.order_type)
        TimeInForce.parse(args.tif)
        _check_quantity(args.quantity)
        if args.price is not None:
            to_decimal(args.price, "price")
        if args.trigger is not None:
            to_decimal(args.trigger, "trigger_price")
        if args.client_order_id is not None:
            check_client_order_id(args.client_order_id)
    except InvalidOrderError as exc:
        raise _usage(exc) from None
    if otype is not OrderType.MARKET and args.price is None:
        raise UsageError(f"price: a {otype.value} order needs a price")
    if otype is OrderType.MARKET and args.price is not None:
        raise UsageError("price: a MARKET order takes no price (the venue's preview sets it)")
    if otype is OrderType.STOP_LIMIT and args.trigger is None:
        raise UsageError("--trigger: a STOP_LIMIT order needs a trigger price")
    if otype is not OrderType.STOP_LIMIT and args.trigger is not None:
        raise UsageError(f"--trigger: a {otype.value} order takes no trigger price")
    if args.tag is not None and not (
        args.tag.isascii() and args.tag.isalnum() and len(args.tag) <= 10
    ):
        raise UsageError("--tag: at most 10 ASCII letters or digits")


def _check_quantity(text: str) -> None:
    """A whole, positive number of contracts within the wire's range (any instrument)."""
    from axorders.model import MAX_QUANTITY

    quantity = to_decimal(text, "quantity")
    if quantity != quantity.to_integral_value():
        raise InvalidOrderError(
            "quantity", "FRACTIONAL_QUANTITY", f"{text} is not a whole number of contracts"
        )
    if quantity <= 0:
        raise InvalidOrderError(
            "quantity", "INVALID_QUANTITY", f"{text} must be a positive number of contracts"
        )
    if quantity > MAX_QUANTITY:
        raise InvalidOrderError(
            "quantity", "QUANTITY_TOO_LARGE", f"{text} is more than {MAX_QUANTITY} contracts"
        )


def _check_replace(args: argparse.Namespace) -> None:
    if args.price is None and args.quantity is None:
        raise UsageError("give --price and/or --quantity")
    try:
        if args.price is not None:
            to_decimal(args.price, "price")
        if args.quantity is not None:
            _check_quantity(args.quantity)
    except InvalidOrderError as exc:
        raise _usage(exc, {"price": "--price", "quantity": "--quantity"}) from None


def _check_ref(args: argparse.Namespace) -> None:
    coid = getattr(args, "client_order_id", None)
    if coid is not None and args.command != "place":
        try:
            check_client_order_id(coid)
        except InvalidOrderError as exc:
            raise _usage(exc) from None


def _check_against(instrument: Instrument, args: argparse.Namespace) -> None:
    try:
        instrument.check_quantity(args.quantity)
        if args.price is not None:
            instrument.check_price(args.price)
        if args.trigger is not None:
            instrument.check_price(args.trigger, "trigger_price")
    except InvalidOrderError as exc:
        raise _usage(exc) from None
