# The embedded demo: every minion gets the demo pillar. For your own site,
# copy pillar.example to <site>.sls, fill it in and target it here by minion
# id (never by grain: secrets must only reach the minions they belong to).
base:
  '*':
    - demo
