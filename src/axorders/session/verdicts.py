"""What a venue answer says about a request: a definitive "no", a retry, or nothing certain.

:func:`classify` is the one place the session judges an answer; :data:`VERDICTS` is its table.

==================  ===========  ============================================================
answer              verdict      why
==================  ===========  ============================================================
``err`` 400         REFUSED      bad request, e.g. a pre-trade margin check: no ``oid``, no
                                 event (SPEC §5.1, §7.1)
``err`` 401, 403    REFUSED      not allowed: checked before the request is carried out
``err`` 404         REFUSED      no such order (cancel, replace, status): nothing to act on
``err`` 405, 501    REFUSED      the venue does not know the request kind (``s``/``X`` then
                                 go over REST)
``err`` 409         RETRY for a  not yet acknowledged (SPEC §5.1): the cancel is sent again
                    cancel,      (up to ``MAX_CANCEL_RETRIES``); to anything else, and past
                    else         the retries, a refusal
                    REFUSED
``err`` 429         AMBIGUOUS    no AX rate limit is documented (SPEC §4.4), so where a 429
                                 comes from (a gateway before the matching engine, or after)
                                 is unknown; an unknown code is judged as ambiguous
``err`` 5xx         AMBIGUOUS    "500 internal" (SPEC §5.1): the venue may have carried the
                                 request out before failing (it does: the order shows up)
any other code      AMBIGUOUS    a code the venue may have acted on until known otherwise
venue reject        REFUSED      a ``j`` event (or a status REJECTED): the venue's own word
``timeout``         AMBIGUOUS    the deadline passed with no answer: the request may have
                                 arrived and been carried out, its answer lost or late
``drop``            AMBIGUOUS    the request was in flight when the connection was lost
==================  ===========  ============================================================

An AMBIGUOUS answer to a place leaves the order live in the UNKNOWN state (one
:class:`~axorders.events.OrderStatusUnknown`) and resolves its request UNKNOWN; the session
asks the venue (a status query by ``cid``; the open orders at the next login) until it knows.
To a cancel or replace it resolves the request UNKNOWN, leaves the order as it was and asks the
venue the order's status. (A replace in flight at a drop is judged by the resync that follows,
which compares the order anyway: OK when the order moved to a new venue id, else UNKNOWN; the
quantity it asked for is needed until then.) The verdicts of the queries themselves (status,
open orders, cancel-all) stay ERROR and TIMEOUT: they change no order.
"""

from __future__ import annotations

import enum
from typing import Final

from axorders.events import RequestKind

__all__ = ["DROP", "REJECT_EVENT", "TIMEOUT", "VERDICTS", "Verdict", "classify"]


class Verdict(enum.Enum):
    """What an answer says about the request."""

    REFUSED = "REFUSED"  # the venue did not carry it out: a definitive "no"
    RETRY = "RETRY"  # not yet: send the same request again
    AMBIGUOUS = "AMBIGUOUS"  # the venue may have carried it out


TIMEOUT: Final = "timeout"
"""The answer key of a request whose deadline passed with no answer."""
DROP: Final = "drop"
"""The answer key of a request in flight when the connection was lost."""
REJECT_EVENT: Final = "reject"
"""The answer key of a venue reject event (``j``)."""

_R = Verdict.REFUSED
_A = Verdict.AMBIGUOUS

VERDICTS: Final[dict[int | str, Verdict]] = {
    400: _R,
    401: _R,
    403: _R,
    404: _R,
    405: _R,
    409: _R,  # a cancel's 409 is RETRY (see classify)
    501: _R,
    429: _A,
    500: _A,
    502: _A,
    503: _A,
    504: _A,
    REJECT_EVENT: _R,
    TIMEOUT: _A,
    DROP: _A,
}
"""Answer (an ``err`` code, or :data:`TIMEOUT`, :data:`DROP`, :data:`REJECT_EVENT`) ->
verdict. A code not listed is AMBIGUOUS."""


def classify(kind: RequestKind, answer: int | str) -> Verdict:
    """The verdict of ``answer`` (an ``err`` code, :data:`TIMEOUT`, :data:`DROP` or
    :data:`REJECT_EVENT`) to a request of ``kind``; see the module's table."""
    if answer == 409 and kind is RequestKind.CANCEL:
        return Verdict.RETRY
    return VERDICTS.get(answer, _A)
