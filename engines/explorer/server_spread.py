"""Spreading a batch over ComfyUI servers (one per GPU) by checkpoint group, and moving a lost server's drafts.

A server that renders drafts of a checkpoint has to load it, so a group is never split while another
server can take it whole: groups go, largest first, to the server with the fewest drafts so far (longest
processing time first, the classic 4/3-approximation of the balanced split). Drafts of a server that
stopped answering go, again by group, to the live servers the same way, on top of what they already have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def _groups(drafts: Sequence[tuple[int, str]]) -> list[list[int]]:
    """Draft indexes per checkpoint, the largest group first (ties: first seen)."""
    by_checkpoint: dict[str, list[int]] = {}
    for index, checkpoint in drafts:
        by_checkpoint.setdefault(checkpoint, []).append(index)
    return sorted(by_checkpoint.values(), key=lambda group: -len(group))


def spread(drafts: Sequence[tuple[int, str]], servers: Sequence[str],
           load: Mapping[str, int] | None = None) -> dict[str, list[int]]:
    """``{server: [draft indexes]}`` for ``(index, checkpoint)`` drafts; ``load`` is what servers already have."""
    if not servers:
        raise ValueError("no ComfyUI server left to queue the drafts on")
    if len(set(servers)) != len(servers):
        raise ValueError(f"--server lists a server twice: {list(servers)}")
    assigned: dict[str, list[int]] = {server: [] for server in servers}
    total = {server: (load or {}).get(server, 0) for server in servers}
    for group in _groups(drafts):
        target = min(servers, key=lambda s: (total[s], servers.index(s)))
        assigned[target] += group
        total[target] += len(group)
    return {server: sorted(indexes) for server, indexes in assigned.items() if indexes}
