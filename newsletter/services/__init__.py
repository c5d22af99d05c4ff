"""The operations the library offers, one module each: check, build, scaffold, archive, accounts,
editing, workers, alerts and notices to the operator."""
