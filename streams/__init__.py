"""Wires Kafka topics to the models and the Redis state: the faust app and CLI."""
