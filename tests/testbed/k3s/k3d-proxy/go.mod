module devstack.test/k3d-proxy

go 1.24

require gopkg.in/yaml.v3 v3.0.1
