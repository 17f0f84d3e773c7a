"""The prediction pipeline's grid stage: the grid's likelihood and posterior of a spectrum."""
