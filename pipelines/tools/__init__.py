"""Tools beside the pipeline, not stages of it: the synthetic network generator (`synth`,
`outcomes synth`) and the performance benchmark (`bench`, `make bench`,
`python -m pipelines.benchmark`). Nothing under ingest/validate/transform/publish imports them."""
