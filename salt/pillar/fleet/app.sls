# The example Django app, from the repository (mounted at /opt/webstack in
# the fleet's containers). Not for production: these secrets are public.
webstack:
  app:
    source:
      path: /opt/webstack/example
    celery: demo
    # ASGI: gunicorn with uvicorn's workers (demo.asgi), WebSockets at
    # /ws/echo/ through the balancer and nginx.
    server: asgi
    secrets:
      # The same on every box serving the site: sessions and signed values
      # made on one must check on the others.
      SECRET_KEY: fleet-example-secret-key-not-for-production-5f0c8e2a
