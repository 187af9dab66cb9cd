# The balancer terminates TLS (a self-signed certificate: a test fleet) and
# hands plain HTTP to the web hosts over the private network.
webstack:
  balancer:
    tls:
      enabled: true
      self_signed: true
