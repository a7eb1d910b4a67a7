"""The endpoint wing: talking to a running SGLang endpoint over HTTP (generator/endpoint/http.py),
one hardened client shared by every endpoint command (smoke, bench, gates, cold start, canary)."""
