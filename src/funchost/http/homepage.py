"""The page served at `/`, as the real host serves one to show the app is up."""

HOMEPAGE = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Your Functions app is up and running</title>
<style>body{font-family:system-ui,sans-serif;margin:4rem auto;max-width:40rem;color:#222}</style>
</head><body><h1>Your Functions app is up and running</h1>
<p>This Azure Functions app is served by funchost. Its HTTP functions answer under their
routes; <code>GET /admin/host/status</code> reports the host's state.</p></body></html>
"""
