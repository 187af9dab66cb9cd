# The demo: the whole stack on one box, serving the example Django app.
# Not for production: its secrets are public.
webstack:
  project:
    name: demo
    domains: [demo.webstack.test, www.demo.webstack.test]
  roles: [web, worker, db, queue, cache]
