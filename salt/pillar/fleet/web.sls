# The web hosts speak plain HTTP to the balancer over the private network:
# TLS ends at the balancer.
webstack:
  nginx:
    tls:
      enabled: false
