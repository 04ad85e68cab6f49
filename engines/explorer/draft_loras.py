"""Which LoRAs made each draft: LoRA loaders found upstream in the queued graph, plus ``LORA_STACK`` inputs.

Stackers (Brand LoRA Stack, Auto LoRA Discover, other packs' stackers) resolve their LoRAs at run time, so the
queued graph does not show them; they hand them on as the ecosystem's ``LORA_STACK`` (a list of
``(name, model_strength, clip_strength)``). A stack list with one item per draft (A/B arms, variations) is
matched to the drafts in order; a single stack applies to every draft.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..store.generations import LoraUse


def stack_loras(stack) -> tuple[LoraUse, ...]:
    """A ``LORA_STACK`` as LoRA uses (model strength); malformed entries are an error naming them."""
    uses = []
    for entry in stack or ():
        if not isinstance(entry, (list, tuple)) or len(entry) < 2 or not isinstance(entry[1], (int, float)):
            raise ValueError(f"a LORA_STACK entry must be (name, model strength, clip strength), got {entry!r}")
        uses.append(LoraUse(str(entry[0]), float(entry[1])))
    return tuple(uses)


def draft_loras(upstream: Sequence[LoraUse], stacks: Sequence | None, drafts: int) -> list[tuple[LoraUse, ...]]:
    """The LoRAs of each of ``drafts`` drafts: upstream loaders first, then that draft's stack (no duplicates)."""
    stacks = list(stacks or [])
    if stacks and len(stacks) not in (1, drafts):
        raise ValueError(f"got {len(stacks)} LORA_STACK list items for {drafts} drafts; connect one stack, or one "
                         "per draft")
    per_draft = []
    for index in range(drafts):
        extra = stack_loras(stacks[index if len(stacks) > 1 else 0]) if stacks else ()
        names = {lora.name for lora in upstream}
        per_draft.append(tuple(upstream) + tuple(lora for lora in extra if lora.name not in names))
    return per_draft
