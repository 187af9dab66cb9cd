{#- The ground every box stands on: packages, clock, locale, names and
    unattended security updates. #}
include:
  - base.packages
  - base.clock
  - base.locale
  - base.component_packages
  - base.hostname
  - base.upgrades
