{#- The ground every box stands on: packages, clock, locale, names,
    unattended security updates and the CA the fleet's boxes trust. #}
include:
  - base.packages
  - base.clock
  - base.locale
  - base.component_packages
  - base.hostname
  - base.upgrades
  - base.peer_tls
  - base.sandbox
