"""The one route to the outside: Docker (engine/), the host, k3d/kubectl/helm, image builds, and the probes
that ask each service in its own protocol."""
