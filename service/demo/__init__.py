"""The demo: the seed story (``story``) the service is born from, which `dateline run --demo` loads."""
