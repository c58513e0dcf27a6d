"""Tools over the pipeline, never run by its steps: the cost estimate of a configuration and the
summary of a results folder."""
