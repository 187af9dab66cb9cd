{%- from "map.jinja" import ws with context %}
{%- from "balancer/vars.jinja" import balancer with context %}
balancer-haproxy-is-installed:
  pkg.installed:
    - name: {{ balancer.package }}
