"""Developer tooling: embedded broker and redis, demo, bench, synthetic producer, replay."""
