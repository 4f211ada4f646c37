"""The samplers, k-diffusion style: one pure function each, one signature (see
`deterministic`), the shared plumbing and step maths in `steps`."""
