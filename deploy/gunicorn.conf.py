"""gunicorn settings for the web process: gunicorn -c deploy/gunicorn.conf.py smart_support.wsgi

Workers, threads and keep-alive were chosen from a load run (bench/load.py, figures in bench/README.md).
Each can be overridden from the environment.
"""

import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# One worker per core, and threads to serve other requests while one waits on PostgreSQL — as many as
# a worker's Django connection pool holds (8). Against 3 workers x 4 threads on the 2-core machine under
# 50 clients: more requests served and a lower p95 on every endpoint (bench/README.md).
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Longer than the idle timeout of the client or proxy in front (nginx: 75 s upstream keepalive_timeout is
# typical, most load balancers 60 s): a server that closes an idle connection first races the client
# reusing it, and that request fails (12 dropped connections in 60 s with 2 s under load).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# Load the app (and run its system checks, smart_support/wsgi.py) once, before forking: a bad setting
# stops the server at once with the checks' message, and workers share the loaded code's memory.
preload_app = True
# Recycle workers now and then, so slow growth of memory never accumulates.
max_requests = 5000
max_requests_jitter = 500
# Trust X-Forwarded-* only from these addresses (the proxy in front); "*" inside a private network.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
# Heartbeat files in memory, not on a container's overlay filesystem (which can stall workers).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
