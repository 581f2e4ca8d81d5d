"""`inv hybrid`: the plan, and the executor that runs it."""
