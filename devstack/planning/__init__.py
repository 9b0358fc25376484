"""From what the user asked for to a plan, pure: profiles and devstack.yaml, the catalog (the services'
registry), the planner, endpoints, Seldon's manifests. No Docker, no host, no terminal."""
