"""The MNIST dropout study: data, model, evaluation, tables and figures, used by
the rule scripts in scripts/, the tests and the benchmarks."""
