{#- nginx in front of the app: 444 for unknown hosts, static and media from
    disk, the rest proxied to gunicorn, optional TLS (a certificate from the
    pillar, from an ACME CA through certbot, or self-signed). Every config change is
    checked with `nginx -t` on a staged copy before it lands, then reloaded.
    Maintenance mode as the pillar says: maintenance.sls. #}
include:
  - nginx.install
  - nginx.tls
  - nginx.config
  - nginx.service
  - nginx.maintenance
  - nginx.acme
