"""An example profwork plug-in package: one renderer (`csv_table`), one reader (`cpuprofile`)
and one method (`sampler`), each one module registered in pyproject.toml's entry points.

Nothing is imported here: profwork imports a plug-in's module only when it is used."""
