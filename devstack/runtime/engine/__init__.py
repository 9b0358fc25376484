"""The parts that touch the outside world: Docker (python-on-whales) and k3d/kubectl/helm (plumbum)."""
