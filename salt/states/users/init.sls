{#- The project's own user, and the developers' accounts. #}
include:
  - users.project
  - users.developers
  - users.former
  - users.sudo
