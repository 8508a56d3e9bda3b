"""The guide's ``my_custom`` package (seed 000): where its custom factories live."""
