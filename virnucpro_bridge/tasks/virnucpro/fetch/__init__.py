"""``lbtui models fetch``: the three models' files, from their publishers into ``--models DIR``.

    sources.py   what to fetch: each file's public URL, its place under DIR, the
                 checksums lbtui pins; mirrors (--mirror, LBTUI_MODELS_MIRROR, HF_ENDPOINT)
    download.py  one file over HTTP (urllib): resumable (Range), checked against the
                 size and checksum its source publishes, renamed into place only whole
    cache.py     the same files copied out of the torch hub and Hugging Face caches
    record.py    DIR/models.json: every file's sha256, so ``models check`` notices a
                 damaged or swapped file
    fetcher.py   the whole fetch: lock, disk space, each file, the record

This is the only code in lbtui that opens a network connection. It imports
neither torch nor any UI; progress goes to a callback.
"""
