"""`FleetShare`: several experiments' schedulers sharing one cap on trials out.

One daemon may run several experiments on one fleet (`bo-scheduler run a.yaml
b.yaml`). Each experiment's loop runs on its own thread and, before it
launches, asks the share how many trials it may have out
(`Scheduler(..., fleet_share=share)`). The cap is split in proportion to the
experiments' weights among those that still want trials, by the D'Hondt
method (each slot in turn goes to the experiment with the highest
`weight / (slots + 1)`), so the split is proportional, in whole trials, and
stable from one poll to the next. An experiment never gets more than it asked
for (its demand: its `max_pending_trials`, or fewer when its budget is nearly
spent); what it does not take goes to the others, and an experiment that
leaves (finished, stopped or failed) frees its share at once.

The cap holds whatever the timing: each experiment reports the trials it
has out every time it asks, what it is granted is reserved until it asks
again, and no grant takes the reserved total past the cap. Trials already
out are never taken back: an experiment over its share (after another one's
demand grew) launches nothing until it is back under it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class _Member:
    weight: float
    demand: int
    reserved: int = 0  # trials out at its last ask plus what it was granted then


class FleetShare:
    """A daemon-wide cap of `cap` trials out, split by weight (thread-safe)."""

    def __init__(self, cap: int) -> None:
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError(f"FleetShare(cap={cap!r}); pass a positive whole number of trials")
        self.cap = cap
        self._members: dict[str, _Member] = {}
        self._lock = threading.Lock()

    def join(self, name: str, weight: float = 1.0) -> None:
        """Add experiment `name` (demand unknown until it first asks: the whole cap)."""
        if not weight > 0:
            raise ValueError(f"weight={weight!r} for {name!r}; pass a number above 0")
        with self._lock:
            self._members[name] = _Member(float(weight), self.cap)

    def leave(self, name: str) -> None:
        """Remove `name`: its share goes to the others from their next launch."""
        with self._lock:
            self._members.pop(name, None)

    def allowance(self, name: str, out: int, demand: int) -> int:
        """How many more trials `name` may send now, having `out` out and wanting
        at most `demand` out; records `demand` for the others' shares."""
        with self._lock:
            member = self._members.get(name)
            if member is None:
                return max(0, demand - out)  # not sharing: only its own limit
            member.demand = max(0, demand)
            member.reserved = out
            share = self._split().get(name, 0)
            free = self.cap - sum(m.reserved for m in self._members.values())
            granted = max(0, min(min(share, demand) - out, free))
            member.reserved = out + granted
        return granted

    def shares(self) -> dict[str, int]:
        """Each member's current share of the cap (for logs and tests)."""
        with self._lock:
            return self._split()

    def _split(self) -> dict[str, int]:
        shares = dict.fromkeys(self._members, 0)
        open_ = sorted(name for name, m in self._members.items() if m.demand > 0)
        for _ in range(self.cap):
            if not open_:
                break
            # The highest quotient wins; ties go to the first name, for a stable split.
            name = max(open_, key=lambda n: self._members[n].weight / (shares[n] + 1))
            shares[name] += 1
            if shares[name] >= self._members[name].demand:
                open_.remove(name)
        return shares
