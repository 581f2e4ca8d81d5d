"""An environment on Docker Swarm (`orchestrator = "swarm"`): the stack file
rendered from the environment's compose config (render.py; keys.py: what a stack
file cannot carry as Compose wrote it, and why), and the tasks that run it (run.py)."""
