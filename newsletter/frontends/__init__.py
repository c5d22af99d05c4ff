"""The front ends over the library: the command line, the public web service and the preview, the
editors' desk and the scheduler process, with the HTTP hardening they share (:mod:`.http`)."""
