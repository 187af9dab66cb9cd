# The fleet example's pillar (make fleet), pillar environment `fleet` (see
# tools/harness/fleet.py). Targeted by minion id, never by grain: a minion sets its
# own grains, so a grain match would hand secrets to any box claiming a role.
fleet:
  '*':
    - common
  # The database and broker passwords: the db box and its replica, and the
  # boxes whose app connects with them.
  'db,replica,web1,web2,worker':
    - match: list
    - data
  # The app and its secrets: the web hosts and the worker.
  'web1,web2,worker':
    - match: list
    - app
  'web1,web2':
    - match: list
    - web
  'balancer':
    - balancer
