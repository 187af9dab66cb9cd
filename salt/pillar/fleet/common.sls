# What every box of the fleet knows. Fleet roles come from each minion's
# `roles` grain; peers (the database, the broker, the web hosts) from the mine.
webstack:
  project:
    name: demo
    domains: [demo.webstack.test, www.demo.webstack.test]
