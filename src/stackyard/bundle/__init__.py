"""The offline bundle: one file holding a release of an environment (every image it
runs, its rendered compose config, a manifest with a SHA-256 of each member), for a
host that has no registry and no source: `inv bundle`, `inv bundle.verify`, and
the load a deploy of a bundle makes."""
