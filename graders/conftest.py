"""The grading plugin (points, --impl, the score report) is labkit.grading.plugin, loaded with
``-p labkit.grading.plugin`` from pyproject.toml's addopts so that it is registered before the
command line is parsed. Only this folder is ever collected when grading."""
