"""The stream worker: the faust app, event schema and validation, the batch path, outputs."""
