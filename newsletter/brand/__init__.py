"""The newsletter's look: the `[brand]` settings with the built-in defaults filling the gaps, their
contrast checks, and the in-place edits of `[brand]` in `newsletter.toml` that the desk makes."""
