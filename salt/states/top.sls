{#- Every box gets the common states, plus the states of each fleet role it
    holds (roles.yaml). Each role's map.jinja validates the pillar first. #}
{%- import_yaml "roles.yaml" as roles %}
base:
  '*':
{%- for state in roles.common %}
    - {{ state }}
{%- endfor %}
{%- for role, states in roles.items() if role != 'common' %}
  'G@roles:{{ role }} or I@webstack:roles:{{ role }}':
    - match: compound
  {%- for state in states %}
    - {{ state }}
  {%- endfor %}
{%- endfor %}
