NAME = "relative"
