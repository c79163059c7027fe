"""Report and baseline files: decode, encode, write atomically, build, update, merge."""
