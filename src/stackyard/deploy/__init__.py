"""`inv prod-deploy` and `inv rollback`: the plan, the executor, the release history."""
