"""The foundation every layer stands on: addresses, names, tokens, VERP, merge fields, translations,
atomic files and where the built-in resources live. Nothing here knows of issues, stores or senders."""
