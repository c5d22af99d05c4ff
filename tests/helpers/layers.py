"""The architecture's rules that more than one test reads."""

from __future__ import annotations


#: The command line is the launcher of the other front ends (``serve``, ``preview``, ``schedule run``, the
#: desk): it may import their entry modules, which take a ``Newsletter``, and nothing else of them.
LAUNCHERS = {"newsletter.frontends.web.server", "newsletter.frontends.web.preview", "newsletter.frontends.scheduler",
             "newsletter.frontends.desk.server"}
