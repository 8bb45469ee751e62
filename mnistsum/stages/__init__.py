"""One module per stage of the pipeline (a section of the report, or beyond it). Each has a `Paths` record of
the files it reads and writes and a `run(params, paths)` that its thin script in pipelines/ calls."""
