#!/usr/bin/env python3
"""How fast can a cold native Xet download be on the bench's CDN, next to plain HTTPS? A model, not a measurement.

Issue 13 asks cold Xet to reach 0.9 x the plain path's speed on the bench's capped CDN (25 MB/s per connection, 500 MB/s
in all). Three facts of the protocol and of verification bound it:
  * a xorb range is signed for exactly its bytes (the spec: the Range header MUST be the url_range), so each unit, one
    whole term of up to 64 MiB, is one request on one connection: it cannot be split, stolen or sped past 25 MB/s;
  * a ranged reconstruction query returns whole terms (offset_into_first_range may skip several chunks), so asking for
    smaller windows does not give smaller units;
  * the file's sha256 (the listing's lfs.oid) must read the bytes in order, ~1.45 GB/s on one core of this VM.
The plain path has none of these limits: its segments are split and stolen, so bytes land nearly in order.

This script simulates the download in 1 ms steps for every schedule hfdl could choose (N units in flight sharing the
link fairly, or lower units first), and a clairvoyant one that knows the link's rate and gives each unit a staggered
deadline (the best any client could do, tuned by grid search). Run: python3 bench/xet-bound.py
"""

MIB = 1024 * 1024 / 1e6  # MB per MiB
FILE_MB = 2048 * MIB  # the bench's 2 GiB model
UNIT_MB = 64 * MIB  # Hfdl.Hub's xorbs, as the Hub's: up to 64 MiB
LINK = 520.0  # MB/s the plain path reaches (bench/run.sh --scenario xet, hfdl-plain)
PER_CONNECTION = 25.0  # MB/s, --conn-rate-mbps 200
SHA256 = 1450.0  # MB/s on one core (openssl dgst -sha256 of 1 GiB: 0.73 s user)
STARTUP = 0.4  # s to the first byte (token, reconstruction or resolve, connections)
STEP = 0.001


def run(sizes, rates_of):
    """Seconds until the file is hashed: units receive bytes at rates_of(t, done) MB/s, the hash follows the in-order prefix."""
    done = [0.0] * len(sizes)
    hashed, t, total = 0.0, STARTUP, sum(sizes)
    while hashed < total - 1e-6:
        for k, rate in enumerate(rates_of(t, done)):
            done[k] = min(sizes[k], done[k] + rate * STEP)
        prefix = 0.0
        for k, size in enumerate(sizes):
            prefix += done[k]
            if done[k] < size:
                break
        hashed = min(prefix, hashed + SHA256 * STEP)
        t += STEP
    return t


def fair(sizes, in_flight):
    """Units start in file order, at most in_flight at once, sharing the link equally (what the hub's global cap does)."""
    def rates(_, done):
        active = [k for k, size in enumerate(sizes) if done[k] < size][:in_flight]
        share = min(PER_CONNECTION, LINK / max(1, len(active)))
        return [share if k in active else 0.0 for k in range(len(sizes))]
    return run(sizes, rates)


def lowest_first(sizes, in_flight):
    """As fair, but lower units take their full per-connection rate first (the client reads them first)."""
    def rates(_, done):
        active = [k for k, size in enumerate(sizes) if done[k] < size][:in_flight]
        left, out = LINK, [0.0] * len(sizes)
        for k in active:
            out[k] = min(PER_CONNECTION, left)
            left -= out[k]
        return out
    return run(sizes, rates)


def deadlines(sizes, first, spacing):
    """Every unit in flight; unit k paced to end at STARTUP + first + k * spacing, spare rate to the lowest units."""
    def rates(t, done):
        left, out = LINK, [0.0] * len(sizes)
        for k, size in enumerate(sizes):
            if done[k] < size:
                due = STARTUP + first + k * spacing
                out[k] = min(PER_CONNECTION, (size - done[k]) / max(due - t, STEP), left)
                left -= out[k]
        for k, size in enumerate(sizes):
            if done[k] < size and left > 0:
                extra = min(PER_CONNECTION - out[k], left)
                out[k] += extra
                left -= extra
        return out
    return run(sizes, rates)


def main():
    units = [UNIT_MB] * round(FILE_MB / UNIT_MB)
    segments = [8 * MIB] * round(FILE_MB / (8 * MIB))  # plain: small, stealable pieces; bytes land nearly in order
    plain = min(fair(segments, n) for n in (21, 24, 32))
    print(f"plain HTTPS (stealable segments): {plain:.2f} s")
    best_fair = min((fair(units, n), n) for n in (16, 21, 24, 28, 32))
    best_low = min((lowest_first(units, n), n) for n in (16, 21, 24, 28, 32))
    print(f"cold Xet, {len(units)} units of 64 MiB, fair share: best {best_fair[0]:.2f} s ({best_fair[1]} in flight) = {plain / best_fair[0]:.2f} x plain")
    print(f"cold Xet, lowest units first: best {best_low[0]:.2f} s ({best_low[1]} in flight) = {plain / best_low[0]:.2f} x plain")
    grid = [(deadlines(units, a, d), a, d) for a in (2.7, 3.0, 3.3, 3.6, 3.9) for d in (0.03, 0.045, 0.06, 0.08, 0.1)]
    best, first, spacing = min(grid)
    print(f"cold Xet, clairvoyant deadlines: best {best:.2f} s (first unit due at {first} s, then every {spacing} s) = {plain / best:.2f} x plain")
    global LINK
    planned = LINK
    for error in (0.9, 1.1):
        LINK = planned * error
        print(f"  the same deadlines when the link is {error:.0%} of what they assumed: {deadlines(units, first, spacing):.2f} s"
              f" (plain {min(fair(segments, n) for n in (21, 24, 32)):.2f} s, fair share {fair(units, 32):.2f} s)")
    LINK = planned

if __name__ == "__main__":
    main()
