{#- haproxy in front of the web hosts (the minions with the `web` role, found
    through the Salt mine): health-checked by the app's health path, Hosts
    not in webstack:project:domains get the connection closed unanswered,
    TLS ended here when the pillar says. Every config is checked by haproxy
    before it lands, then haproxy reloads. #}
include:
  - balancer.install
  - balancer.tls
  - balancer.config
  - balancer.service
  - balancer.acme
