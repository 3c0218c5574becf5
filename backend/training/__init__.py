"""The training engine: the network, its step's products and fused CPU kernels, the
optimisers and the Trainer that ties them together."""
