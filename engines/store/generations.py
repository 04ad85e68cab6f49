"""Schema of what the pack generated and what the user picked: the data every learning part reads.

One schema, agreed by the capabilities that learn from picks:

- ``batches``: one queued set of drafts (prompt, mode explore/quick, tier, created time).
- ``drafts``: one image of a batch: which checkpoint and LoRAs (JSON list of ``{"name", "strength"}``)
  made it, its seed and its image file (ComfyUI ``/view`` reference: filename, subfolder, type).
- ``picks``: the user's verdict on a draft; one row per draft (re-picking updates it), so picks are idempotent.

CheckpointExplorer credits checkpoints from drafts + picks; AutoLoRADiscover credits (keyword, LoRA)
pairs from the batch prompt + the draft's LoRAs + picks. Aggregates live in each capability's own tables.
"""

from __future__ import annotations

from .database import Migration

COMPONENT = "generations"

MIGRATIONS = (
    Migration(1, """
CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    prompt TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL CHECK (mode IN ('explore', 'quick')),
    tier TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE TABLE drafts (
    id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    checkpoint TEXT NOT NULL,
    loras TEXT NOT NULL DEFAULT '[]',
    seed INTEGER NOT NULL DEFAULT 0,
    image_filename TEXT NOT NULL DEFAULT '',
    image_subfolder TEXT NOT NULL DEFAULT '',
    image_type TEXT NOT NULL DEFAULT 'output',
    UNIQUE (batch_id, idx)
);
CREATE INDEX drafts_checkpoint ON drafts(checkpoint);
CREATE TABLE picks (
    draft_id TEXT PRIMARY KEY REFERENCES drafts(id) ON DELETE CASCADE,
    selected INTEGER NOT NULL CHECK (selected IN (0, 1)),
    picked_at REAL NOT NULL
);
"""),
)
