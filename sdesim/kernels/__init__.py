"""How paths move: the generic path kernel (``template.py``), its builder and the block statistics."""
