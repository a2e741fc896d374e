"""``callqa serve``: the QA workbench — reviewers confirm or reject findings, add missed ones,
agents appeal, calls are searched and sampled, rule precision is measured (docs/workbench.md)."""

from callqa.serve.app import ServeError, create_app, load_users_file

__all__ = ["ServeError", "create_app", "load_users_file"]
