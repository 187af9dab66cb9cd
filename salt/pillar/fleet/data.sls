# Not for production: these secrets are public.
webstack:
  postgresql:
    password: fleet-db-password
  rabbitmq:
    password: fleet-mq-password
  cache:
    redis:
      enabled: true
      password: fleet-cache-password
