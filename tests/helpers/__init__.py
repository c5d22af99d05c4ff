"""Helpers the tests share, one module per thing they help with; never imported from another test module
(``tests/test_suite_rules.py``). A project's configuration is changed through :mod:`tests.helpers.config`."""
