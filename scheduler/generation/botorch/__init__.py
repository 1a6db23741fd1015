"""The BoTorch generation step: inputs encoded to the unit cube (`encoding`), GP
fits (`gp`), acquisition functions (`acquisition`, `outcomes`), candidate
optimization (`candidates`) and the `Generator` that ties them (`generator`)."""
