"""Summarise a py-spy profile (``py-spy record -f raw``: collapsed stacks) into hot spots.

``python -m bench.profile_top PROFILE.txt [--top N] [--only collector,lambdalytics]``
``python -m bench.profile_top AFTER.txt --against BEFORE.txt --us AFTER_US,BEFORE_US``

Prints, as a share of all samples, the functions where the samples were taken (self time)
and the functions that were on the stack (inclusive time). Line numbers are folded away so
that one function is one row; ``--only`` keeps the rows whose file path contains one of
the given package names (the collector's own hot path, without uvicorn and asyncio).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


@dataclass(frozen=True, slots=True)
class Profile:
    total: int
    self_samples: Counter[str]
    inclusive: Counter[str]


def _function(frame: str) -> str:
    return _LINE.sub(")", frame.strip())


def load(path: Path) -> Profile:
    self_samples: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_function(f) for f in stack.split(";")]
        self_samples[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    return Profile(total, self_samples, inclusive)


def report(profile: Profile, top: int = 15, only: tuple[str, ...] = ()) -> str:
    def keep(name: str) -> bool:
        return not only or any(f"{pkg}/" in name for pkg in only)

    out = [f"{profile.total} samples"]
    for title, counts in (("self", profile.self_samples), ("inclusive", profile.inclusive)):
        out.append(f"-- {title} time" + (f" (only {', '.join(only)})" if only else ""))
        rows = [(name, n) for name, n in counts.most_common() if keep(name)][:top]
        out += [f"{100 * n / max(profile.total, 1):5.1f}%  {name}" for name, n in rows]
    return "\n".join(out)


def diff(base: Profile, base_us: float, other: Profile, other_us: float, top: int = 25,
         only: tuple[str, ...] = ()) -> str:
    """Two profiles of the same server code under the same load, as µs of CPU per request:
    each function's share of the samples times the profiled run's CPU µs per request, the
    functions whose inclusive time grew the most first. Stacks that py-spy caught while a
    coroutine was being resumed lack their outer frames, so inclusive times are lower bounds."""
    def keep(name: str) -> bool:
        return not only or any(f"{pkg}/" in name for pkg in only)

    out = [f"µs per request: {base_us:.0f} -> {other_us:.0f} ({base.total} and {other.total} samples)"]
    for title, a, b in (("inclusive", base.inclusive, other.inclusive),
                        ("self", base.self_samples, other.self_samples)):
        rows = []
        for name in set(a) | set(b):
            if keep(name):
                x = a[name] / max(base.total, 1) * base_us
                y = b[name] / max(other.total, 1) * other_us
                rows.append((y - x, x, y, name))
        rows.sort(reverse=True)
        out.append(f"-- {title} time, µs per request (before, after, difference)")
        out += [f"{x:7.1f} {y:7.1f} {d:+7.1f}  {name}" for d, x, y, name in rows[:top]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--only", default="", help="comma-separated package names to keep")
    parser.add_argument("--against", type=Path, default=None,
                        help="a profile of the same code before a change: print the difference")
    parser.add_argument("--us", default=None,
                        help="with --against: CPU µs per request of PROFILE and of the other")
    args = parser.parse_args(argv)
    only = tuple(p for p in args.only.split(",") if p)
    if args.against is None:
        print(report(load(args.profile), args.top, only))
        return
    if not args.us:
        parser.error("--against needs --us AFTER_US,BEFORE_US")
    after_us, before_us = (float(x) for x in args.us.split(","))
    print(diff(load(args.against), before_us, load(args.profile), after_us, args.top, only))


if __name__ == "__main__":
    main()
