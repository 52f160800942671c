"""Pure functions between the outside world and tensors: images in, classes out."""
