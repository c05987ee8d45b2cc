"""Documents for people: the quality-objective report and the process control sheet."""
