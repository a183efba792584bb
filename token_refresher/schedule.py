"""When to ask the hub again: before expiry while things work, with backoff while they do not.

Pure functions of the clock and a random source, so the timing rules can be tested exactly.
"""

from __future__ import annotations

import random

# Never ask again sooner than this after a success, whatever the token says: a hub handing
# out almost-expired tokens must not be asked in a tight loop.
MIN_DELAY = 1.0
# Backoff delays are drawn between this share of the nominal delay and the nominal delay, so
# many servers that lost the hub together do not come back together.
BACKOFF_JITTER_FLOOR = 0.8
# Once the token in place has expired (or none was ever written) the user's storage access
# is down, so however long the hub has been failing, it is asked again at least this often:
# a hub that comes back after a restart serves every user within seconds, not a minute later.
LAPSED_RETRY_MAX = 10.0


def refresh_delay(
    expires_at: float,
    now: float,
    margin: float,
    jitter: float,
    rng: random.Random,
    min_delay: float = MIN_DELAY,
) -> float:
    """Seconds until the next fetch of a token that expires at `expires_at`.

    Normally `margin` seconds before expiry, minus up to `jitter`. A token with less than
    `margin` left (the hub has not refreshed it yet, or its lifetime is short) is asked for
    again after half its remaining life: still before expiry, and the hub gets a few more
    chances to hand out a new one.
    """
    remaining = expires_at - now
    if remaining <= margin:
        delay = remaining / 2
    else:
        # Jitter never pushes the fetch before now.
        delay = remaining - margin - rng.uniform(0.0, min(jitter, remaining - margin))
    return max(delay, min_delay)


def backoff_delay(failures: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Delay before retry number `failures` (1 for the first): initial doubled each time, capped."""
    nominal = min(maximum, initial * 2.0 ** min(max(failures - 1, 0), 60))
    return jittered(nominal, rng)


def failure_delay(
    failures: int,
    initial: float,
    maximum: float,
    rng: random.Random,
    expires_at: float | None,
    now: float,
    min_delay: float = MIN_DELAY,
) -> float:
    """Delay before retry number `failures` of a fetch that failed while the hub was unavailable.

    The backoff of `backoff_delay`, bounded by what the token in place still allows: while it
    is valid, the next try comes before it expires (after at most half its remaining life), so
    an outage shorter than the margin costs the user nothing; once it has lapsed, at most
    LAPSED_RETRY_MAX.
    """
    delay = backoff_delay(failures, initial, maximum, rng)
    remaining = None if expires_at is None else expires_at - now
    if remaining is not None and remaining > 0:
        return min(delay, max(remaining / 2, min_delay))
    return min(delay, jittered(LAPSED_RETRY_MAX, rng))


def jittered(nominal: float, rng: random.Random) -> float:
    return nominal * rng.uniform(BACKOFF_JITTER_FLOOR, 1.0)
