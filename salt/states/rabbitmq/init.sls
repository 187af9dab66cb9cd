{#- RabbitMQ from the release with the app's vhost and user (no guest):
    AMQP on loopback unless web or worker hosts use it, the node's Erlang
    ports on loopback always. #}
include:
  - rabbitmq.config
  - rabbitmq.install
  - rabbitmq.service
  - rabbitmq.users
