{#- Every box gets the common components, plus the components of each fleet
    role it holds (roles.yaml, which also says the run order). The first SLS
    rendered validates the pillar (settings.jinja). #}
{%- import_yaml "roles.yaml" as roles %}
base:
  '*':
{%- for component in roles.common %}
    - {{ component }}
{%- endfor %}
{%- for role, components in roles.items() if role != 'common' %}
  'G@roles:{{ role }} or I@webstack:roles:{{ role }}':
    - match: compound
  {%- for component in components %}
    - {{ component }}
  {%- endfor %}
{%- endfor %}
