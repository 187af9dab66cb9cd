{#- The app: its packages, directories, environment and the live release
    (fetched, virtualenv, migrated, health-checked, then switched to). #}
include:
  - app.install
  - app.layout
  - app.env
  - app.release
